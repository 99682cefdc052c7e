"""`SandboxTransport`: the sandbox in-process, with network faults that look real to httpx.

`httpx.ASGITransport` alone ignores timeouts and re-raises whatever the app raises. This wrapper
makes an in-process sandbox fail the way a served one does:

* a dropped connection (`drop`, `lost`, a hang that outlives `hang_s`) raises
  `httpx.RemoteProtocolError`, as httpx does when a server hangs up without answering;
* the request's read timeout (`request.extensions["timeout"]["read"]`, i.e. the client's
  `httpx.Timeout`) is enforced: a hang raises `httpx.ReadTimeout` after that many seconds.

    app = create_app(SandboxConfig(faults=FaultSpec(lost=0.1)))
    async with httpx.AsyncClient(transport=SandboxTransport(app), base_url="http://sandbox") as c:
        ...
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from starlette.types import ASGIApp

from partner_sandbox.faults import ConnectionDropped


class SandboxTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        app: ASGIApp,
        *,
        client: tuple[str, int] = ("127.0.0.1", 50000),
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`clock` (POSIX seconds), when given, replaces the sandbox app's clock."""
        if clock is not None:
            app.sandbox.clock = clock  # type: ignore[attr-defined]
        self._inner = httpx.ASGITransport(app=app, raise_app_exceptions=True, client=client)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        read_timeout = timeout.get("read") if isinstance(timeout, dict) else None
        try:
            if read_timeout is None:
                return await self._inner.handle_async_request(request)
            return await asyncio.wait_for(
                self._inner.handle_async_request(request), timeout=read_timeout
            )
        except TimeoutError:
            raise httpx.ReadTimeout("timed out waiting for the sandbox", request=request) from None
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None

    async def aclose(self) -> None:
        await self._inner.aclose()
