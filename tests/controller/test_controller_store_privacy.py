"""The controller's database (service records keep their secret arguments) is its owner's only:
0600 with SQLite's -wal/-shm, in a 0700 directory it creates, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sdqkd.controller.store import ControllerStore


def test_the_controller_database_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        path = tmp_path / "controller" / "state.db"
        store = ControllerStore(path)
        try:
            files = [file for file in path.parent.iterdir() if file.name.startswith("state.db")]
            assert path in files
            assert {file.name: stat.S_IMODE(file.stat().st_mode) for file in files} == {
                file.name: 0o600 for file in files
            }
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        finally:
            store.close()
    finally:
        os.umask(previous)
