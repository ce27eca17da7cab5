"""The node-side service manager (a VNF manager per node, DESIGN §5 "NFV"): it starts, watches,
restarts and stops application processes on its node — tunnel endpoints, later OPoT nodes — on the
SDN controller's orders, over HTTPS with mutual TLS.

It is a role of its own (``sdqkd service-manager --config FILE``), not part of the node agent. The
agent is the ETSI GS QKD 015 device plane: a RESTCONF datastore of the node's QKD devices, links and
applications. The manager runs processes that *take* keys, as SAEs. Apart, the agent's datastore
holds only what ETSI 015 models, and a node can run services without exposing process control
through RESTCONF (nor the datastore through the manager). Only the controller orders; the controller
and the operator read (docs/nfv.md).

Orders name a kind of a fixed table (:mod:`sdqkd.nfv.kinds`), never a command. The processes are
``sdqkd`` commands, started as subprocesses: this package imports neither :mod:`sdqkd.apps` nor the
command line.
"""

from __future__ import annotations

from sdqkd.nfv.app import create_service_manager_app
from sdqkd.nfv.config import ServiceManagerConfig, load_service_manager_config
from sdqkd.nfv.kinds import DEFAULT_KINDS, Launch, ProcessKind, ProcessRefused, Site
from sdqkd.nfv.supervisor import ProcessInfo, RestartPolicy, Supervisor, UnknownProcess

__all__ = [
    "DEFAULT_KINDS",
    "Launch",
    "ProcessInfo",
    "ProcessKind",
    "ProcessRefused",
    "RestartPolicy",
    "ServiceManagerConfig",
    "Site",
    "Supervisor",
    "UnknownProcess",
    "create_service_manager_app",
    "load_service_manager_config",
]
