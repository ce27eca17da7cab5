"""The operator's dashboard (``sdqkd web``): a live picture of the network in a browser.

It reaches the services over HTTP only — the controller's northbound API and the emulator's plant
API, with the operator's certificate — and serves, over HTTPS with the run's CA, a page and its
files, the snapshot those APIs make (:func:`build_snapshot`) and a stream of snapshots (server-sent
events). Only the operator gets in: a client certificate, or the token ``sdqkd up`` prints.
"""

from __future__ import annotations

from sdqkd.web.app import create_web_app
from sdqkd.web.auth import SESSION_COOKIE, Gate, Sessions, new_token, read_token
from sdqkd.web.config import WebConfig, load_web_config
from sdqkd.web.feed import SnapshotFeed, UpstreamReader
from sdqkd.web.snapshot import Upstream, build_snapshot

__all__ = [
    "SESSION_COOKIE",
    "Gate",
    "Sessions",
    "SnapshotFeed",
    "Upstream",
    "UpstreamReader",
    "WebConfig",
    "build_snapshot",
    "create_web_app",
    "load_web_config",
    "new_token",
    "read_token",
]
