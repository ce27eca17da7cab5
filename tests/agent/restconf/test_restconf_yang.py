"""Loading YANG data models (the resource paths over them are tested in tests/restconf)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from restconf_support import YANG_DIR

from sdqkd.errors import ConfigError
from sdqkd.etsi015 import load_data_model


def test_the_model_is_loaded_once_per_directory(model: Any) -> None:
    assert load_data_model(YANG_DIR) is model
    assert load_data_model(YANG_DIR / ".." / YANG_DIR.name) is model


def test_a_directory_without_a_yang_library_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no YANG library"):
        load_data_model(tmp_path)


def test_a_library_naming_a_module_that_is_not_there_is_a_config_error(model: Any, tmp_path: Path) -> None:
    shutil.copy(YANG_DIR / "yang-library.json", tmp_path)
    shutil.copy(YANG_DIR / "etsi-qkd-sdn-node.yang", tmp_path)  # its imports are missing
    with pytest.raises(ConfigError, match="cannot load the YANG modules"):
        load_data_model(tmp_path)


def test_an_unreadable_yang_library_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "yang-library.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot load"):
        load_data_model(tmp_path)
