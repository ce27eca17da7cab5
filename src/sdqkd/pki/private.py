"""Files and directories readable by their owner only (DESIGN §7): private keys, key stores, the
directories that hold them.

Modes are set explicitly rather than left to the process's umask: a file is created 0600 and a
directory 0700 whatever the umask, and one that already existed is narrowed, so nothing holding key
material is ever readable by another local user, not even for a moment after its creation.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PRIVATE_DIR_MODE", "PRIVATE_FILE_MODE", "private_database", "private_directory", "private_file"]

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def private_directory(path: Path) -> Path:
    """``path`` as a directory only its owner may enter (created with its missing parents, which get
    the same mode; an existing ``path`` is narrowed, its parents left as they are)."""
    missing = [parent for parent in (path, *path.parents) if not parent.exists()]
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    for directory in (path, *missing):
        os.chmod(directory, PRIVATE_DIR_MODE)  # mkdir's mode passes through the umask
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file only its owner may read or write: created empty (0600 from its creation)
    if missing, narrowed to 0600 if it exists; its content is kept."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)  # an existing file keeps its mode through open()
    finally:
        os.close(descriptor)
    return path


_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_database(path: Path) -> Path:
    """``path`` made ready for SQLite to open as an owner-only database: its directory 0700 if it
    has to be created (an existing one is the user's), the file 0600 (created empty, which SQLite
    takes as a new database), and the files SQLite keeps beside it (``-wal``, ``-shm``, ``-journal``)
    narrowed to 0600 if an earlier run left them. SQLite creates those with the database's own mode,
    so they are private from their creation too."""
    if not path.parent.exists():
        private_directory(path.parent)
    private_file(path)
    for suffix in _SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            private_file(side)
    return path
