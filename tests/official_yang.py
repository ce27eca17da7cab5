"""The official ETSI GS QKD 015 YANG modules, for the tests that compare sdqkd's own modules with them.

They sit beside the checkout in ``../shared/specs/etsi-gs-qkd-015`` (read in place, never copied into the
project). Without them a comparison skips; in CI (``CI=true``) it fails instead, since CI must check the
shipped model against them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from yangson import DataModel

OFFICIAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "specs" / "etsi-gs-qkd-015"
"""The official modules, beside the checkout."""
YANG_LIBRARY = "yang-library.json"


def load_model(yang_dir: Path) -> DataModel:
    """The yangson model of the YANG library in ``yang_dir`` and the modules beside it."""
    return DataModel.from_file(str(yang_dir / YANG_LIBRARY), [str(yang_dir)])


def require_official_modules() -> None:
    """Skip the calling test when the official modules are not beside the checkout; in CI (``CI=true``),
    fail it."""
    if (OFFICIAL_DIR / YANG_LIBRARY).is_file():
        return
    where = f"the official ETSI GS QKD 015 YANG modules are not at {OFFICIAL_DIR}"
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"{where}: CI requires ../shared/specs/etsi-gs-qkd-015 beside the checkout, to check the "
            "packaged modules against them",
            pytrace=False,
        )
    pytest.skip(f"{where}: nothing to compare the packaged modules with")
