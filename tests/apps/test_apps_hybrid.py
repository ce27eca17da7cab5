"""The hybrid key establishment protocol without I/O (sdqkd.apps.hybrid): both sides agree one key from
the same QKD key, and any difference — another QKD key, a changed byte in either message, a HELLO for
someone else, malformed fields — ends in HybridKeyError, never in two different keys taken as one."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import uuid

import pytest

from sdqkd.apps.hybrid import MAX_FRAME, HybridKey, Initiator, Responder, initiate, read_frame, respond
from sdqkd.errors import HybridKeyError
from standin_kmes import StandInKmes

A, B = "norte-app", "quintin-app"


def exchange(
    qkd_at_a: bytes, qkd_at_b: bytes, *, hello: bytes | None = None, reply_edit: object = None
) -> tuple[HybridKey, HybridKey]:
    """One run; ``hello`` replaces the HELLO B receives, ``reply_edit`` edits the REPLY A receives."""
    key_id = uuid.uuid4()
    initiator = Initiator(A, B, key_id, qkd_at_a)
    responder = Responder(B)
    assert responder.receive_hello(hello or initiator.hello) == (A, key_id) or hello is not None
    reply, confirm = responder.reply(qkd_at_b)
    if callable(reply_edit):
        reply = reply_edit(reply)
    initiator.receive_reply(reply)
    mine, key_a = initiator.confirm(confirm)
    return key_a, responder.finish(mine)


def edit(frame: bytes, **changes: object) -> bytes:
    message = json.loads(frame)
    message.update(changes)
    return json.dumps(message, sort_keys=True, separators=(",", ":")).encode()


def test_both_sides_get_the_same_32_byte_key_and_fingerprint() -> None:
    qkd = secrets.token_bytes(32)
    key_a, key_b = exchange(qkd, qkd)
    assert key_a.key == key_b.key
    assert len(key_a.key) == 32
    assert key_a.fingerprint == key_b.fingerprint
    assert (key_a.initiator, key_a.responder) == (key_b.initiator, key_b.responder) == (A, B)
    assert key_a.key_id == key_b.key_id
    assert key_a.key != qkd  # never the QKD key itself
    assert key_a.key.hex() not in repr(key_a)


def test_each_run_gives_another_key_even_from_the_same_qkd_key() -> None:
    qkd = secrets.token_bytes(32)
    assert exchange(qkd, qkd)[0].key != exchange(qkd, qkd)[0].key  # fresh X25519 and ML-KEM each run


def test_another_qkd_key_at_the_responder_is_caught_by_the_confirmation() -> None:
    with pytest.raises(HybridKeyError, match="confirmation does not match"):
        exchange(secrets.token_bytes(32), secrets.token_bytes(32))


def test_a_changed_reply_nonce_is_caught_by_the_confirmation() -> None:
    qkd = secrets.token_bytes(32)
    nonce = base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(HybridKeyError, match="confirmation does not match"):
        exchange(qkd, qkd, reply_edit=lambda reply: edit(reply, nonce=nonce))


def test_a_changed_hello_nonce_is_caught_by_the_confirmation() -> None:
    qkd = secrets.token_bytes(32)
    initiator = Initiator(A, B, uuid.uuid4(), qkd)
    responder = Responder(B)
    responder.receive_hello(edit(initiator.hello, nonce=base64.b64encode(b"x" * 32).decode()))
    reply, confirm = responder.reply(qkd)
    initiator.receive_reply(reply)
    with pytest.raises(HybridKeyError, match="confirmation does not match"):
        initiator.confirm(confirm)


def test_a_flipped_bit_in_the_ml_kem_ciphertext_is_caught() -> None:
    def flip(reply: bytes) -> bytes:
        ciphertext = bytearray(base64.b64decode(json.loads(reply)["mlkem_ct"]))
        ciphertext[100] ^= 1
        return edit(reply, mlkem_ct=base64.b64encode(bytes(ciphertext)).decode())

    qkd = secrets.token_bytes(32)
    with pytest.raises(HybridKeyError, match="confirmation does not match"):
        exchange(qkd, qkd, reply_edit=flip)


def test_the_initiator_confirmation_is_checked_by_the_responder() -> None:
    qkd = secrets.token_bytes(32)
    initiator = Initiator(A, B, uuid.uuid4(), qkd)
    responder = Responder(B)
    responder.receive_hello(initiator.hello)
    responder.reply(qkd)
    forged = json.dumps({"type": "confirm", "mac": base64.b64encode(b"\0" * 32).decode()}).encode()
    with pytest.raises(HybridKeyError, match="initiator's confirmation"):
        responder.finish(forged)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"responder": "someone-else"}, "is for 'someone-else'"),
        ({"v": 2}, "version"),
        ({"key_id": "not-a-uuid"}, "not a UUID"),
        ({"initiator": ""}, "no initiator"),
        ({"x25519": base64.b64encode(b"short").decode()}, "x25519 is not 32 bytes"),
        ({"mlkem_ek": "%%%"}, "mlkem_ek is not 1184 bytes"),
        ({"type": "reply"}, "expected a hello"),
    ],
)
def test_a_malformed_hello_is_refused_with_a_clear_error(changes: dict[str, object], message: str) -> None:
    hello = edit(Initiator(A, B, uuid.uuid4(), secrets.token_bytes(32)).hello, **changes)
    with pytest.raises(HybridKeyError, match=message):
        Responder(B).receive_hello(hello)


@pytest.mark.parametrize("frame", [b"", b"[]", b"\xff\xfe", b'{"type": "error", "message": "no key"}'])
def test_garbage_or_an_error_instead_of_a_reply_is_refused(frame: bytes) -> None:
    initiator = Initiator(A, B, uuid.uuid4(), secrets.token_bytes(32))
    with pytest.raises(HybridKeyError):
        initiator.receive_reply(frame)


def test_confirming_before_any_reply_is_refused() -> None:
    with pytest.raises(HybridKeyError, match="no reply"):
        Initiator(A, B, uuid.uuid4(), secrets.token_bytes(32)).confirm(b"{}")
    with pytest.raises(HybridKeyError, match="no hello"):
        Responder(B).finish(b"{}")


# Over a TCP connection on loopback, with stand-ins of the two KMEs ----------------------------------------


async def _over_tcp(kmes: StandInKmes) -> tuple[HybridKey, HybridKey]:
    answered: asyncio.Future[HybridKey] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            answered.set_result(await respond(reader, writer, kmes, B))  # type: ignore[arg-type]
        except HybridKeyError as exc:
            answered.set_exception(exc)
        finally:
            writer.close()
            await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        try:
            mine = await initiate(reader, writer, kmes, A, B)  # type: ignore[arg-type]
        finally:
            writer.close()
            await writer.wait_closed()
        return mine, await answered


def test_initiate_and_respond_agree_over_a_tcp_connection_and_use_each_qkd_key_once() -> None:
    kmes = StandInKmes()
    first = asyncio.run(_over_tcp(kmes))
    second = asyncio.run(_over_tcp(kmes))
    assert first[0].key == first[1].key
    assert second[0].key == second[1].key
    assert first[0].key_id != second[0].key_id
    assert kmes.delivered == [first[0].key_id, second[0].key_id]


def test_a_frame_over_the_limit_or_a_closed_stream_is_an_error() -> None:
    async def read(data: bytes) -> bytes:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_frame(reader)

    with pytest.raises(HybridKeyError, match="over the limit"):
        asyncio.run(read((MAX_FRAME + 1).to_bytes(4, "big") + b"x"))
    with pytest.raises(HybridKeyError, match="closed"):
        asyncio.run(read((10).to_bytes(4, "big") + b"short"))
    assert asyncio.run(read((3).to_bytes(4, "big") + b"abc")) == b"abc"
