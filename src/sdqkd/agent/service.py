"""``sdqkd agent --config FILE``: a node agent as a service (RESTCONF over HTTPS, mutual TLS).

```yaml
node_id: norte
location: Norte
host: 127.0.0.1
port: 0                                  # 0: a free port
tls: {cert: pki/agent-norte.crt, key: pki/agent-norte.key, ca: pki/ca.crt}
yang_dir: yang                           # optional: other ETSI GS QKD 015 YANG modules + yang-library.json
driver: {kind: emulator, url: https://emulator:9000}
endpoint_file: agent/norte.endpoint.json
controller_url: https://controller:8443  # call home here once serving (optional: none, no call-home)
kme_url: https://kme-norte:8470          # the node's KME: told to the controller, read for key use (optional)
advertise_url: https://norte:8460        # the URL told to the controller (default: the one served at)
control_channel:                         # optional; default {kind: mtls}
  kind: qkd-tls                          # RESTCONF over QKD-TLS only (needs kme_url)
  sae: {cert: pki/sae-norte-agent.crt, key: pki/sae-norte-agent.key}  # the agent's SAE at its KME
  controller_sae_id: controller          # whose keys open connections (dec_keys at the node's KME)
```
Relative paths are relative to the configuration file. Without ``yang_dir`` the agent validates
against the model shipped with sdqkd (or ``$SDQKD_YANG_DIR``: :func:`sdqkd.etsi015.yang_dir`). The
controller and the operator may write the datastore; they and the node's own KME may read it. With
``controller_url`` the agent registers with the controller once it accepts connections, in the
background, retrying until the controller accepts (:mod:`sdqkd.agent.callhome`).

With ``control_channel: {kind: qkd-tls}`` the port speaks QKD-TLS only (:mod:`sdqkd.qtls`): each
connection's key is the one its key ID names, fetched from the node's KME as the agent's SAE for the
controller's SAE, once; every request through it is the controller's. A client with only a
certificate is refused (TLS alert missing_extension). The RESTCONF app itself listens on a Unix
socket in a private directory.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.types import Receive, Scope, Send

from sdqkd.agent.callhome import CallHome
from sdqkd.agent.emulator_driver import EmulatorDriver
from sdqkd.agent.kme import KmeReader
from sdqkd.agent.metrics import AgentCollector
from sdqkd.agent.node import NodeAgent
from sdqkd.agent.restconf import AGENT_TABLE, create_restconf_app
from sdqkd.etsi014.client import Etsi014Client
from sdqkd.etsi015 import load_data_model, yang_dir
from sdqkd.pki.identity import Identity, Role
from sdqkd.qtls import app_front
from sdqkd.server.authz import OWN_NODE, own_node
from sdqkd.server.config import TLS_PATHS, TlsConfig, load_config_file
from sdqkd.server.logs import LogFormat, configure_logging
from sdqkd.server.run import FrontedBy, serve_role

__all__ = ["AgentApp", "AgentConfig", "load_agent_config", "run_agent"]

log = logging.getLogger(__name__)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Driver(_Model):
    kind: Literal["emulator"] = "emulator"
    url: str


class _CertKey(_Model):
    cert: Path
    key: Path


class ControlChannel(_Model):
    """How the controller reaches the agent: ``mtls`` (HTTPS with mutual TLS, the default) or
    ``qkd-tls`` (QKD-TLS only, with keys of ``controller_sae_id`` fetched as the SAE ``sae``)."""

    kind: Literal["mtls", "qkd-tls"] = "mtls"
    sae: _CertKey | None = None
    controller_sae_id: str = "controller"


class AgentConfig(_Model):
    node_id: str = Field(min_length=1)
    location: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    tls: TlsConfig
    yang_dir: Path | None = None
    """The ETSI GS QKD 015 YANG modules to validate against (None: ``$SDQKD_YANG_DIR``, else the
    packaged ones)."""
    driver: _Driver
    endpoint_file: Path | None = None
    controller_url: str | None = None
    """The SDN controller to register with (None: no call-home)."""
    kme_url: str | None = None
    """The node's KME, told to the controller (which reads its key pools) and read by the agent every
    second for the key the relay consumes (``eskr``, ``app_statistics``)."""
    advertise_url: str | None = None
    """The agent's URL as the controller reaches it (None: the URL the server reports when it starts)."""
    control_channel: ControlChannel = ControlChannel()

    @model_validator(mode="after")
    def _qkd_tls_needs_keys(self) -> AgentConfig:
        if self.control_channel.kind == "qkd-tls" and (
            self.kme_url is None or self.control_channel.sae is None
        ):
            raise ValueError(
                "control_channel qkd-tls needs kme_url and control_channel.sae (the agent's SAE)"
            )
        return self

    @field_validator("controller_url", "kme_url", "advertise_url")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        # Every sdqkd service speaks HTTPS with mutual TLS: a URL of another scheme is a mistake.
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme != "https" or not parts.hostname:
                raise ValueError(f"{value!r} is not an https://host[:port] URL")
        return value


def load_agent_config(path: Path) -> AgentConfig:
    """Read and validate an agent configuration (YAML or JSON).

    Raises:
        ConfigError: unreadable or invalid (the message names the field).
    """
    relative = (
        *TLS_PATHS,
        "yang_dir",
        "endpoint_file",
        "control_channel.sae.cert",
        "control_channel.sae.key",
    )
    return load_config_file(path, AgentConfig, "an agent", relative)


class AgentApp:
    """The agent's ASGI app: at startup it starts the agent (device discovery fills the datastore),
    then serves the datastore over RESTCONF; once told it serves (:meth:`serving`) it calls home; at
    shutdown it stops calling home, then stops the agent.

    Args:
        agent: the node agent.
        call_home: its registration with the controller; None: none.
    """

    def __init__(self, agent: NodeAgent, call_home: CallHome | None = None) -> None:
        self.agent = agent
        self.call_home = call_home
        self.restconf: FastAPI | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def serving(self, url: str) -> None:
        """The server accepts connections at ``url``: call home (if configured). Safe to call from any
        thread.

        Raises:
            RuntimeError: the app has not started.
        """
        if self._loop is None:
            raise RuntimeError("the agent has not started")
        if self.call_home is not None:
            self._loop.call_soon_threadsafe(self.call_home.start, url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif self.restconf is None:
            raise RuntimeError("the agent has not started")
        else:
            await self.restconf(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.agent.start()
                except Exception as exc:  # reported to the server, which exits
                    try:
                        await self.agent.stop()  # release what start() opened: the driver's connections
                    except Exception:
                        log.exception("agent %s: cleaning up after a failed start failed", self.agent.node_id)
                    await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
                    return
                self.restconf = create_restconf_app(
                    self.agent.datastore,
                    table=AGENT_TABLE,
                    checks={OWN_NODE: own_node(self.agent.node_id)},
                    stream=self.agent.stream,
                    title=f"sdqkd agent {self.agent.node_id}: ETSI GS QKD 015 over RESTCONF",
                    metrics=AgentCollector(self.agent),
                    health=self.agent.loops.states,
                )
                self._loop = asyncio.get_running_loop()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    if self.call_home is not None:
                        await self.call_home.stop()
                finally:
                    await self.agent.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def run_agent(config_path: Path, log_format: LogFormat = LogFormat.TEXT) -> None:
    """Serve the agent of ``config_path`` until SIGINT/SIGTERM, logging ``log_format`` lines on
    stderr (sdqkd's from INFO: a registration, a refusal)."""
    config = load_agent_config(config_path)
    configure_logging(log_format, "agent", config.node_id)
    model = load_data_model(yang_dir(config.yang_dir))
    tls = config.tls.files()
    crl = config.tls.crl  # TlsFiles has no CRL member: taken from the configuration
    driver = EmulatorDriver(config.driver.url, tls.cert, tls.key, tls.ca, config.node_id, crl=crl)
    kme = (
        None
        if config.kme_url is None
        else KmeReader(config.kme_url, tls.cert, tls.key, tls.ca, kme_id=config.node_id, crl=crl)
    )
    agent = NodeAgent(config.node_id, config.location or config.node_id, driver, model, kme)
    call_home = None
    if config.controller_url is not None:
        call_home = CallHome(
            config.controller_url,
            config.node_id,
            location=agent.location,
            kme_url=config.kme_url,
            advertise_url=config.advertise_url,
            tls=tls,
            crl=crl,
        )
    app = AgentApp(agent, call_home)
    record = {"node_id": config.node_id, "control_channel": config.control_channel.kind}
    serve_role(
        app,
        tls,
        config.host,
        config.port,
        config.endpoint_file,
        record,
        on_started=app.serving,
        fronted=_qkd_tls_front(config),
    )


def _qkd_tls_front(config: AgentConfig) -> FrontedBy | None:
    """The QKD-TLS front of an agent whose control channel is qkd-tls (None: mutual TLS)."""
    channel, kme_url = config.control_channel, config.kme_url
    if channel.kind != "qkd-tls" or channel.sae is None or kme_url is None:
        return None
    sae, ca = channel.sae, config.tls.ca

    def kme() -> Etsi014Client:
        return Etsi014Client(
            kme_url, cert=sae.cert, key=sae.key, ca=ca, peer=Identity(Role.KME, config.node_id)
        )

    controller = Identity(Role.CONTROLLER, channel.controller_sae_id)
    return FrontedBy(app_front(kme, [channel.controller_sae_id]), controller)
