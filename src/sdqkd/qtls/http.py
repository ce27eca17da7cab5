"""HTTP over QKD-TLS, client side: an httpx transport whose every new connection is a QKD-TLS
connection keyed by a fresh key from the client's KME (``enc_keys`` for the server's SAE).

``httpx.AsyncClient(transport=QtlsTransport(dial))`` then speaks HTTP/1.1 to ``https://host:port``
URLs over QKD-TLS; httpcore pools the connections (keep-alive), so a key is taken per connection, not
per request. ``dial(host, port)`` opens one connection (:func:`sdqkd.qtls.front.open_connection` with
the right SAE for that address). The blocking TLS I/O runs in a thread pool of the transport's own, so
long reads (event streams) never starve the event loop's default executor.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpcore
import httpx

from sdqkd.errors import QtlsError, SdqkdError
from sdqkd.qtls.session import QtlsConnection

__all__ = ["Dial", "QtlsTransport"]

Dial = Callable[[str, int], Awaitable[QtlsConnection]]
"""Opens a QKD-TLS connection to (host, port)."""

_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.NetworkError, httpx.NetworkError),
)


class QtlsTransport(httpx.AsyncBaseTransport):
    """An httpx transport over QKD-TLS (HTTP/1.1).

    Args:
        dial: opens a connection to (host, port) with a new key.
        max_connections: at most this many connections open at once.
        keepalive_expiry_s: an idle connection is closed after this long.
        on_close: awaited by :meth:`aclose` (e.g. closing the KME client ``dial`` uses).
    """

    def __init__(
        self,
        dial: Dial,
        *,
        max_connections: int = 64,
        keepalive_expiry_s: float = 30.0,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._on_close = on_close
        self._executor = ThreadPoolExecutor(max_workers=2 * max_connections, thread_name_prefix="qtls-io")
        self._pool = httpcore.AsyncConnectionPool(
            network_backend=_Backend(dial, self._executor),
            max_connections=max_connections,
            keepalive_expiry=keepalive_expiry_s,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=b"http",  # the connection is QKD-TLS already: httpcore must not start TLS again
                host=request.url.raw_host,
                port=request.url.port or 443,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _mapped(request):
            response = await self._pool.handle_async_request(core)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream, request),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._on_close is not None:
            await self._on_close()


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes], request: httpx.Request) -> None:
        self._stream, self._request = stream, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped(self._request):
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        closer = getattr(self._stream, "aclose", None)
        if closer is not None:
            await closer()


@contextlib.contextmanager
def _mapped(request: httpx.Request) -> Any:
    """httpcore's exceptions as httpx's (what callers of an httpx client catch)."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise _as_httpx(exc, request) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
        raise _as_httpx(exc, request) from exc


def _as_httpx(exc: Exception, request: httpx.Request) -> httpx.TransportError:
    kind = next((theirs for ours, theirs in _ERRORS if isinstance(exc, ours)), httpx.TransportError)
    return kind(str(exc) or type(exc).__name__, request=request)


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self, dial: Dial, executor: ThreadPoolExecutor) -> None:
        self._dial, self._executor = dial, executor

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                connection = await self._dial(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"QKD-TLS connection to {host}:{port} timed out") from exc
        except SdqkdError as exc:  # no key from the KME, a refused or failed handshake
            raise httpcore.ConnectError(f"QKD-TLS connection to {host}:{port}: {exc}") from exc
        return _Stream(connection, self._executor)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("QKD-TLS runs over TCP only")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _Stream(httpcore.AsyncNetworkStream):
    """One QKD-TLS connection as httpcore's stream: its blocking calls in the transport's threads."""

    def __init__(self, connection: QtlsConnection, executor: ThreadPoolExecutor) -> None:
        self._connection, self._executor = connection, executor

    async def _run(self, call: Callable[..., Any], *args: Any, timeout: float | None, error: type) -> Any:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                return await loop.run_in_executor(self._executor, call, *args)
        except TimeoutError as exc:
            self._connection.close()  # a TLS record may be half read: the connection is done
            raise (httpcore.ReadTimeout if error is httpcore.ReadError else httpcore.WriteTimeout)(
                "QKD-TLS connection timed out"
            ) from exc
        except (QtlsError, OSError) as exc:
            raise error(str(exc)) from exc

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data: bytes = await self._run(
            self._connection.recv, max_bytes, timeout=timeout, error=httpcore.ReadError
        )
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            await self._run(self._connection.sendall, buffer, timeout=timeout, error=httpcore.WriteError)

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._connection.close)

    async def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return self  # never asked: requests go to httpcore as http, the connection is QKD-TLS already

    def get_extra_info(self, info: str) -> Any:
        if info == "qtls_key_id":
            return self._connection.key_id
        return None
