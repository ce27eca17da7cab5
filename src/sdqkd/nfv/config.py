"""The configuration of a service manager (``sdqkd service-manager --config FILE``).

```yaml
node_id: norte
host: 127.0.0.1
port: 0                                   # 0: a free port
tls: {cert: pki/agent-norte.crt, key: pki/agent-norte.key, ca: pki/ca.crt}
run_dir: .                                # what the sdqkd commands it starts get as --run-dir
log_dir: nfv/norte                        # ID.log and ID.stats.json of each process
endpoint_file: nfv/norte.endpoint.json    # {"url", "pid", "node_id"} written once it serves
```
Relative paths are relative to the configuration file. The manager serves with its node's
certificate (``agent:NODE``: the node's identity; the PKI has no role of its own for it).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sdqkd.nfv.kinds import Site
from sdqkd.server.config import TLS_PATHS, TlsConfig, load_config_file

__all__ = ["ServiceManagerConfig", "load_service_manager_config"]


class ServiceManagerConfig(BaseModel):
    """A service manager's configuration (see the module's example)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    tls: TlsConfig
    run_dir: Path
    """The run directory the ``sdqkd`` commands it starts read (``--run-dir``: PKI, the KMEs)."""
    log_dir: Path
    """Where each process's log (``ID.log``) and stats file (``ID.stats.json``) go."""
    endpoint_file: Path | None = None

    def site(self) -> Site:
        """Where the manager's processes run."""
        return Site(self.node_id, self.run_dir, self.log_dir)


def load_service_manager_config(path: Path) -> ServiceManagerConfig:
    """Read and validate a service manager's configuration (YAML or JSON).

    Raises:
        ConfigError: unreadable or invalid (the message names the field).
    """
    relative = (*TLS_PATHS, "run_dir", "log_dir", "endpoint_file")
    return load_config_file(path, ServiceManagerConfig, "a service manager", relative)
