"""``sdqkd up --engine protocol`` on ``madrid``: the modules' key comes out of the post-processing
pipeline, the SAEs at the two ends of a link get the same keys over ETSI GS QKD 014 (``enc_keys`` at
one end, ``dec_keys`` at the other), and ``sdqkd status`` shows the measured β and FER.

The test runs blocks of 2²² symbols, where Norte–Quintín still keeps key with the β the project's
codes reach (0.84), so the first keys come after one block's computing (half the default 2²³'s)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from runtime_support import Launch, link, sdqkd, wait_until_serving

from sdqkd.etsi014 import Etsi014Client

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BLOCK_SYMBOLS = 1 << 22

DIRECT = "norte-quintin"  # norte-tx → quintin-rx2, no switch on the way


def _sae(status: dict[str, Any], node: str) -> Etsi014Client:
    found = next(n for n in status["nodes"] if n["id"] == node)
    sae = found["saes"][0]
    return Etsi014Client(
        found["kme_url"], cert=Path(sae["cert"]), key=Path(sae["key"]), ca=Path(status["ca"])
    )


def _made_key(status: dict[str, Any]) -> bool:
    figures = link(status, DIRECT).get("protocol") or {}
    found = link(status, DIRECT)
    # key made by blocks and pulled into both KMEs' pools (what ETSI 014 serves from); each KME pulls
    # from its own module, so the first block may fill one pool and the next the other
    pools = found.get("pools") or {}
    ready = all(pools.get(node, {}).get("ready_blocks", 0) >= 2 for node in ("norte", "quintin"))
    return found["status"] == "up" and figures.get("key_bits", 0) > 0 and ready


def test_madrid_with_the_protocol_engine_delivers_equal_keys_and_shows_beta_and_fer(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    extra = ["--engine", "protocol", "--protocol-block-symbols", str(BLOCK_SYMBOLS)]
    up = launch(run_dir, tmp_path / "up.out", topology="madrid", extra=extra)
    status = wait_until_serving(run_dir, up, tmp_path / "up.out", ready=_made_key, timeout_s=240.0)
    sae_ids = {node["id"]: node["saes"][0]["id"] for node in status["nodes"]}

    async def exchange() -> tuple[list[bytes], list[bytes]]:
        async with _sae(status, "norte") as master, _sae(status, "quintin") as slave:
            sent = await master.enc_keys(sae_ids["quintin"], number=2)
            received = await slave.dec_keys(sae_ids["norte"], [key.key_id for key in sent.keys])
        return [k.material() for k in sent.keys], [k.material() for k in received.keys]

    sent, received = asyncio.run(exchange())
    assert sent == received
    assert len(set(sent)) == 2

    shown = sdqkd("status", "--run-dir", run_dir, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    figures = link(json.loads(shown.stdout), DIRECT)["protocol"]
    assert 0.8 < figures["mean_efficiency"] <= 1.0
    assert 0.0 <= figures["mean_frame_error_rate"] < 1.0
    assert figures["block_symbols"] == BLOCK_SYMBOLS
    table = sdqkd("status", "--run-dir", run_dir)
    assert table.returncode == 0, table.stderr
    assert "β" in table.stdout
    assert "FER" in table.stdout
