"""httpx's own HTTP transport, spread over several small connection pools.

httpcore 1.0's connection pool re-examines every connection it holds on each request and each
response close: quadratically in the keep-alive check, plus a `poll()` syscall per idle socket.
With the 30-odd connections a worker keeps at `maxConcurrentCalls` 16 per function, that costs
more CPU than the rest of the request (bench/pipeline.py: about 1.4 ms per request in one pool
of 32 connections, under 0.9 ms spread over small pools). `SpreadTransport` gives each request to
the small `httpx.AsyncHTTPTransport` with the fewest requests in flight, so each pool holds only
a few connections. Everything else is httpx's: connection reuse, timeouts, TLS, and the
`httpx.TransportError` tree the client maps to Partner API errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Final

import httpx

POOLS: Final = 16
CONNECTIONS_PER_POOL: Final = 8  # 16 x 8 = 128 connections at most per worker


class _Released(httpx.AsyncByteStream):
    """The response body; closing it (httpx always does) frees its pool's slot once."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._release()


class SpreadTransport(httpx.AsyncBaseTransport):
    def __init__(
        self, pools: int = POOLS, connections_per_pool: int = CONNECTIONS_PER_POOL
    ) -> None:
        if pools < 1 or connections_per_pool < 1:
            raise ValueError("pools and connections_per_pool must be at least 1")
        limits = httpx.Limits(
            max_connections=connections_per_pool,
            # As many kept alive as allowed open: httpcore closes idle connections whenever the
            # pool holds more than this many connections, idle or not.
            max_keepalive_connections=connections_per_pool,
        )
        ssl_context = httpx.create_ssl_context()  # one CA bundle load, shared by every pool
        self._pools = [
            httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits) for _ in range(pools)
        ]
        self.in_flight = [0] * pools  # requests sent and whose response is not closed yet

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._pools)), key=self.in_flight.__getitem__)
        self.in_flight[index] += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.in_flight[index] -= 1

        try:
            response = await self._pools[index].handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Released(response.stream, release)
        return response

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()
