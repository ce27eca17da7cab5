"""Reading a service's configuration file (YAML or JSON) into its pydantic model, with file paths
taken relative to the file's folder and errors as one line that names the field; the ``tls`` section
every service's configuration has (:class:`TlsConfig`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from sdqkd.errors import ConfigError
from sdqkd.server.run import TlsFiles

__all__ = ["TLS_PATHS", "TlsConfig", "load_config_file"]

TLS_PATHS = ("tls.cert", "tls.key", "tls.ca", "tls.crl")
"""The file paths of a configuration's ``tls`` section, as :func:`load_config_file` names them in
``relative``."""


class TlsConfig(BaseModel):
    """A service's ``tls`` section: its certificate and key, the CA its peers' certificates must
    chain to, and optionally the CA's revocation list (``{cert: pki/kme-norte.crt, key:
    pki/kme-norte.key, ca: pki/ca.crt, crl: pki/crl.pem}``). ``crl`` may name a file that does not
    exist yet (no certificate revoked so far); configurations without it stay valid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cert: Path
    key: Path
    ca: Path
    crl: Path | None = None

    @classmethod
    def of(
        cls, cert: Path | str, key: Path | str, ca: Path | str, crl: Path | str | None = None
    ) -> TlsConfig:
        """The section for these files (absolute paths, or relative to the configuration file)."""
        return cls(cert=Path(cert), key=Path(key), ca=Path(ca), crl=None if crl is None else Path(crl))

    def files(self) -> TlsFiles:
        """The files as the servers and clients take them."""
        return TlsFiles(self.cert, self.key, self.ca, self.crl)

    def to_json(self) -> dict[str, str]:
        """The section as a configuration file holds it (``crl`` only when there is one)."""
        data = {"cert": str(self.cert), "key": str(self.key), "ca": str(self.ca)}
        if self.crl is not None:
            data["crl"] = str(self.crl)
        return data


_M = TypeVar("_M", bound=BaseModel)


def load_config_file(path: Path, model: type[_M], what: str, relative: Iterable[str]) -> _M:
    """Read ``path`` as a ``model``.

    Args:
        path: the YAML (or ``.json``) file.
        model: the configuration's pydantic model.
        what: the service, for messages ("an agent", "a controller").
        relative: the members holding file paths, dotted (``tls.cert``): a relative one is made
            relative to the file's folder.

    Raises:
        ConfigError: unreadable or invalid (the message names the field).
    """
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read {what} configuration: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {what} configuration is a mapping")
    for dotted in relative:
        *parents, leaf = dotted.split(".")
        holder: Any = data
        for part in parents:
            holder = holder.get(part) if isinstance(holder, dict) else None
        value = holder.get(leaf) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and isinstance(value, str) and not Path(value).is_absolute():
            holder[leaf] = str(path.parent / value)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigError(f"{path}: {'.'.join(str(p) for p in error['loc'])}: {error['msg']}") from exc
