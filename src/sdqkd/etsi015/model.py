"""The ETSI GS QKD 015 data model: the YANG modules shipped with sdqkd, and loading a model with yangson.

sdqkd ships its own YANG modules for the SD-QKD node model (``etsi-qkd-sdn-node``, ``etsi-qkd-node-types``
and the RFC 6991 typedefs they import), written from the specification with the same names, namespaces,
types, keys and identities as the official modules, so the wire format and every validation verdict are
the same (the conformance tests compare both). They live in this package's ``yang/`` folder beside a YANG
library (RFC 7895 ``yang-library.json``). A deployment may point at other modules with ``--yang-dir`` or
``$SDQKD_YANG_DIR``.
"""

from __future__ import annotations

import functools
import os
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from yangson import DataModel
from yangson.exceptions import YangsonException

from sdqkd.errors import ConfigError

__all__ = ["YANG_DIR_VARIABLE", "YANG_LIBRARY", "load_data_model", "packaged_yang_dir", "yang_dir"]

YANG_LIBRARY = "yang-library.json"
YANG_DIR_VARIABLE = "SDQKD_YANG_DIR"


def packaged_yang_dir() -> Path:
    """The folder of the YANG modules shipped with sdqkd (package data, a real folder once installed)."""
    return Path(str(resources.files("sdqkd.etsi015").joinpath("yang")))


def yang_dir(explicit: Path | None = None) -> Path:
    """The YANG modules to use: ``explicit``, else ``$SDQKD_YANG_DIR``, else the packaged ones.

    Raises:
        ConfigError: the chosen folder has no YANG library.
    """
    chosen = explicit or (Path(os.environ[YANG_DIR_VARIABLE]) if os.environ.get(YANG_DIR_VARIABLE) else None)
    folder = (chosen or packaged_yang_dir()).resolve()
    if not (folder / YANG_LIBRARY).is_file():
        raise ConfigError(f"{folder}: no {YANG_LIBRARY} there (the ETSI GS QKD 015 YANG modules)")
    return folder


def load_data_model(folder: Path | None = None) -> Any:
    """The yangson ``DataModel`` of the YANG library ``folder / "yang-library.json"`` and the modules in
    ``folder`` (default: the packaged modules), loaded once per folder and thread.

    One model per thread, because a yangson ``DataModel`` is not safe to use from two threads at once
    (observed: agents served on threads of one process refused valid writes with ``member-not-allowed``
    now and then while they shared one model, never with one model each).

    Raises:
        ConfigError: the folder, its library or a module is missing or cannot be parsed.
    """
    return _load((folder or packaged_yang_dir()).resolve(), threading.get_ident())


@functools.cache
def _load(folder: Path, thread: int) -> Any:
    library = folder / YANG_LIBRARY
    if not library.is_file():
        raise ConfigError(f"no YANG library at {library}: give the directory of the YANG modules")
    try:
        return DataModel.from_file(str(library), [str(folder)])
    except (OSError, ValueError, YangsonException) as exc:
        raise ConfigError(f"cannot load the YANG modules in {folder}: {type(exc).__name__}: {exc}") from exc
