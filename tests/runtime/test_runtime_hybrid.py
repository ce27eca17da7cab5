"""Hybrid keys as a user gets them: ``sdqkd hybrid demo`` on a running ``chain:3`` agrees one key between
the applications of n1 and n3 (a pair the KMEs relay over n2), and a HELLO replayed to the responder is
refused because its QKD key ID was used once already."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from runtime_support import Launch, relayed, sdqkd, wait_until_serving

from sdqkd.apps.hybrid import Initiator, Responder, respond
from sdqkd.errors import HybridKeyError
from sdqkd.etsi014 import Etsi014Client

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _sae(status: dict[str, Any], node: str) -> Etsi014Client:
    found = next(n for n in status["nodes"] if n["id"] == node)
    sae = found["saes"][0]
    return Etsi014Client(
        found["kme_url"], cert=Path(sae["cert"]), key=Path(sae["key"]), ca=Path(status["ca"])
    )


def test_the_demo_agrees_one_key_across_arelayed_pair_and_a_replayed_hello_is_refused(
    launch: Launch, run_dir: Path, tmp_path: Path
) -> None:
    up = launch(run_dir, tmp_path / "up.out")
    status = wait_until_serving(run_dir, up, tmp_path / "up.out", ready=relayed)

    result = sdqkd("hybrid", "demo", "--from", "n1", "--to", "n3", "--run-dir", run_dir, "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    shown = json.loads(result.stdout)
    assert shown["same_key"] is True
    assert shown["initiator"]["fingerprint"] == shown["responder"]["fingerprint"]
    assert (shown["initiator"]["sae"], shown["responder"]["sae"]) == ("n1-app", "n3-app")
    assert "ML-KEM-768" in shown["algorithms"]

    async def replay() -> None:
        async with _sae(status, "n1") as kme_a, _sae(status, "n3") as kme_b:
            (qkd,) = (await kme_a.enc_keys("n3-app", number=1, size=256)).keys
            initiator = Initiator("n1-app", "n3-app", qkd.key_id, qkd.material())
            responder = Responder("n3-app")
            assert responder.receive_hello(initiator.hello) == ("n1-app", qkd.key_id)
            (theirs,) = (await kme_b.dec_keys("n1-app", [qkd.key_id])).keys  # relayed n1 → n2 → n3
            reply, confirm = responder.reply(theirs.material())
            initiator.receive_reply(reply)
            mine, key_a = initiator.confirm(confirm)
            assert responder.finish(mine).key == key_a.key
            # the same HELLO again, to a fresh responder: its QKD key was delivered once already
            reader = asyncio.StreamReader()
            reader.feed_data(len(initiator.hello).to_bytes(4, "big") + initiator.hello)
            sink = _Sink()
            with pytest.raises(HybridKeyError, match="not delivered"):
                await respond(reader, sink, kme_b, "n3-app")  # type: ignore[arg-type]
            assert b'"type":"error"' in sink.data  # the initiator is told why

    asyncio.run(replay())


class _Sink:
    """A stream writer that keeps what was written."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        pass
