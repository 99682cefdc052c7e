"""Serving the sandbox with uvicorn (one worker, loopback by default), and its ready line.

    run(config, host="127.0.0.1", port=0)        blocking; prints the ready line; SIGINT/SIGTERM
                                                 stop it and it returns 0 (the CLI's exit code)
    async with serving(app, clock=...) as ready: ...  in a running event loop (tests, benchmarks)
    with serve_in_thread(app) as ready: ...      on its own loop in a thread (msal is synchronous)

The ready line is one JSON object: `url` (API base), `authority` (for msal-based clients and
`referral-relay login`), `token` (a Referrals Admin of the default organisation), `admin` (the
admin API base).

uvicorn runs with the sandbox's own HTTP protocol class, which registers each connection's
transport so that injected drops close the socket for real (see `partner_sandbox.faults`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.protocols.utils import get_remote_addr

from partner_sandbox.app import SandboxApp, create_app
from partner_sandbox.config import SandboxConfig, add_arguments, config_from_args
from partner_sandbox.faults import Connections

__all__ = [
    "ReadyInfo",
    "add_arguments",
    "build_server",
    "config_from_args",
    "main",
    "ready_info",
    "run",
    "serve_in_thread",
    "serving",
]

GRACEFUL_SHUTDOWN_S = 3  # hung requests are cut after this on shutdown


@dataclass(frozen=True, slots=True)
class ReadyInfo:
    url: str
    authority: str
    token: str
    admin: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(", ", ": "))


def _protocol_class(connections: Connections) -> type[asyncio.Protocol]:
    class SandboxHttpProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
        """uvicorn's HTTP protocol, plus a registry entry per connection (for real drops)."""

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._sandbox_client = get_remote_addr(transport)
            connections.add(self._sandbox_client, transport)

        def connection_lost(self, exc: Exception | None) -> None:
            connections.discard(getattr(self, "_sandbox_client", None))
            super().connection_lost(exc)

    return SandboxHttpProtocol


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises a captured SIGTERM after shutting down (exit status -15); for the
        # sandbox a requested stop is a clean exit, so the signal only triggers the shutdown.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


def build_server(app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_protocol_class(app.sandbox.connections),
        lifespan="off",
        access_log=False,
        proxy_headers=False,  # loopback: no proxy in front (and one layer less per request)
        log_config=None,
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    return _Server(config)


def ready_info(app: SandboxApp, server: uvicorn.Server) -> ReadyInfo:
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    url = f"http://{netloc}"
    config = app.sandbox.config
    return ReadyInfo(
        url=url,
        authority=f"https://{netloc}/{config.default_organization.id}",
        token=app.sandbox.token("admin", lifetime_s=config.ready_token_lifetime_s),
        admin=f"{url}/_sandbox",
    )


async def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    while not server.started:
        if task.done():
            task.result()  # re-raises why it stopped
            raise RuntimeError("the sandbox server stopped before it was ready")
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def serving(
    app: SandboxApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    clock: Callable[[], float] | None = None,
) -> AsyncIterator[ReadyInfo]:
    """Serve `app` on the running loop until the block ends. `clock` (POSIX seconds), when
    given, replaces the sandbox's clock (e.g. the local host broker's time-warping one)."""
    if clock is not None:
        app.sandbox.clock = clock
    server = build_server(app, host, port)
    task = asyncio.create_task(server.serve())
    try:
        await _started(server, task)
        yield ready_info(app, server)
    finally:
        server.should_exit = True
        await task


@contextlib.contextmanager
def serve_in_thread(app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[ReadyInfo]:
    """Serve `app` from a background thread with its own event loop until the block ends."""
    server = build_server(app, host, port)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve())
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name="partner-sandbox", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the sandbox server stopped before it was ready") from (
                failure[0] if failure else None
            )
        thread.join(0.005)
    try:
        yield ready_info(app, server)
    finally:
        server.should_exit = True
        thread.join()


def run(
    config: SandboxConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    out: TextIO | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM; print the ready line once listening. Returns the exit code."""
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(message)s"
    )
    app = create_app(config)
    stream = out or sys.stdout

    async def main() -> int:
        server = build_server(app, host, port)
        task = asyncio.create_task(server.serve())
        try:
            await _started(server, task)
        except (RuntimeError, SystemExit):
            return 1  # uvicorn has logged why (e.g. the port is taken)
        print(ready_info(app, server).to_json(), file=stream, flush=True)
        await task
        return 0

    return asyncio.run(main())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m partner_sandbox", description="Offline Partner Center sandbox."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    return run(config, args.host, args.port)
