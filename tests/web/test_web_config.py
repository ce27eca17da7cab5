"""The dashboard's configuration (what ``sdqkd up`` writes loads, paths relative to the file) and its
token file (owner-only, new on demand, refused when others may read it)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from sdqkd.errors import ConfigError
from sdqkd.runtime.configs import Placement, web_config
from sdqkd.web import load_web_config, new_token, read_token


def test_what_sdqkd_up_writes_is_a_valid_configuration(tmp_path: Path) -> None:
    at = Placement(tmp_path / "pki", "https://localhost:1001", controller_url="https://localhost:1002")
    written = web_config(
        at, host="127.0.0.1", port=0, token_file=tmp_path / "web" / "token",
        endpoint_file=tmp_path / "web" / "endpoint.json", network="madrid",
    )  # fmt: skip
    path = tmp_path / "web.json"
    path.write_text(json.dumps(written))
    config = load_web_config(path)
    assert config.tls.cert == tmp_path / "pki" / "web-dashboard.crt"
    assert config.client.cert == tmp_path / "pki" / "operator-operator.crt"
    assert config.controller_url == "https://localhost:1002"
    assert config.emulator_url == "https://localhost:1001"
    assert config.network == "madrid"
    assert config.interval_s == 1.0


def test_the_dashboard_needs_the_controllers_url(tmp_path: Path) -> None:
    at = Placement(tmp_path, "https://localhost:1001")
    with pytest.raises(ConfigError, match="controller"):
        web_config(at, host="127.0.0.1", port=0, token_file=tmp_path / "t", endpoint_file=tmp_path / "e")


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "site" / "web.yaml"
    path.parent.mkdir()
    path.write_text(
        "tls: {cert: pki/web.crt, key: pki/web.key, ca: pki/ca.crt}\n"
        "client: {cert: pki/op.crt, key: pki/op.key}\n"
        "controller_url: https://controller.example:8443\n"
        "token_file: web/token\n"
    )
    config = load_web_config(path)
    assert config.token_file == path.parent / "web" / "token"
    assert config.client.key == path.parent / "pki" / "op.key"
    assert config.emulator_url is None


def test_a_plain_http_controller_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "web.json"
    path.write_text(
        json.dumps(
            {
                "tls": {"cert": "a", "key": "b", "ca": "c"},
                "client": {"cert": "d", "key": "e"},
                "controller_url": "http://localhost:1",
                "token_file": "t",
            }
        )
    )
    with pytest.raises(ConfigError, match="controller_url"):
        load_web_config(path)


def test_a_new_token_is_random_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "web" / "token"
    first = new_token(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_token(path) == first
    assert len(first) >= 32
    assert new_token(path) != first  # a new run, a new token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_missing_token_is_made(tmp_path: Path) -> None:
    path = tmp_path / "token"
    token = read_token(path)
    assert path.read_text().strip() == token


def test_a_token_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    new_token(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="owner only"):
        read_token(path)
