"""HTTP-triggered functions of `function_app`, served as the Functions host serves them.

Read from each function's real binding metadata (`get_function_json()`: an `httpTrigger` binding
with `route`, `methods`, `authLevel`). As the host does: the URL is `/api/<route>` (the route
defaults to the function's name; templates `{name}`, `{name?}`, `{name:constraint}` and a
catch-all `{*rest}`, matched ignoring case); a method the binding does not list, or a path no
function has, is 404; `authLevel` `function` wants the function key (or the master key) in the
`code` query parameter or the `x-functions-key` header, `admin` the master key, `anonymous`
nothing, and a missing or wrong key is 401. A function's exception is a 500 with an empty body
(the host answers so and logs it), a `None` return a 204.

`HttpTriggerApp` is a plain ASGI app (in-process: `httpx.ASGITransport(app)`), and `serving()`
runs it under uvicorn on 127.0.0.1 and a free port, like `func start`.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import re
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

import azure.functions as func
import uvicorn
from starlette.types import Receive, Scope, Send

log = logging.getLogger("referral_relay.local_host")

ROUTE_PREFIX: Final = "api"  # host.json extensions.http.routePrefix default
KEY_HEADER: Final = "x-functions-key"
_PARAMETER = re.compile(r"^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]+)?(\?)?\}$")


class RouteTemplateError(ValueError):
    pass


def compile_route(template: str) -> re.Pattern[str]:
    """A route template as a regex over the path after `/api/` (no leading slash)."""
    parts: list[str] = []
    for segment in template.strip("/").split("/"):
        match = _PARAMETER.match(segment)
        if match is None:
            if "{" in segment or "}" in segment:
                raise RouteTemplateError(f"route segment {segment!r} is not supported")
            parts.append("/" + re.escape(segment))
            continue
        catch_all, name, optional = match.groups()
        body = f"(?P<{name}>.+)" if catch_all else f"(?P<{name}>[^/]+)"
        parts.append(f"(?:/{body})?" if optional or catch_all else "/" + body)
    return re.compile("".join(parts).removeprefix("/") if parts else "", re.IGNORECASE)


@dataclass(frozen=True)
class HttpFunction:
    name: str
    arg_name: str
    route: str
    methods: frozenset[str] | None  # None: every method
    auth_level: str  # anonymous | function | admin
    call: Callable[..., Any]
    pattern: re.Pattern[str]


def http_function(function: func.Function, binding: dict[str, Any]) -> HttpFunction:
    name = function.get_function_name() or binding["name"]
    route = str(binding.get("route") or name)
    methods = binding.get("methods")
    return HttpFunction(
        name=name,
        arg_name=binding["name"],
        route=route,
        methods=frozenset(str(m).upper() for m in methods) if methods else None,
        auth_level=str(binding.get("authLevel") or "function").lower(),
        call=function.get_user_function(),
        pattern=compile_route(route),
    )


class HttpTriggerApp:
    """ASGI app answering `/api/...` with the HTTP-triggered functions."""

    def __init__(
        self,
        functions: Sequence[HttpFunction],
        *,
        function_key: str,
        master_key: str,
        on_invoke: Callable[[], None] | None = None,
    ) -> None:
        self.functions = list(functions)
        self.function_key = function_key
        self.master_key = master_key
        self._on_invoke = on_invoke

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        status, headers, body = await self._answer(scope, receive)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        path = scope["path"]
        prefix = f"/{ROUTE_PREFIX}/"
        found = (
            self._match(path[len(prefix) :], scope["method"]) if path.startswith(prefix) else None
        )
        if found is None:
            return 404, [], b""
        function, route_params = found
        query = scope.get("query_string", b"").decode("latin-1")
        params = dict(parse_qsl(query, keep_blank_values=True))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not self._authorized(function.auth_level, params.get("code") or headers.get(KEY_HEADER)):
            return 401, [], b""
        body = await _read_body(receive)
        host = headers.get("host", "127.0.0.1")
        url = f"{scope.get('scheme', 'http')}://{host}{path}" + (f"?{query}" if query else "")
        request = func.HttpRequest(
            scope["method"],
            url,
            headers=headers,
            params=params,
            route_params=route_params,
            body=body,
        )
        if self._on_invoke is not None:
            self._on_invoke()
        try:
            result = function.call(**{function.arg_name: request})
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            log.warning("HTTP function %s raised %s", function.name, type(exc).__name__)
            return 500, [], b""
        return _response(result)

    def _match(self, rest: str, method: str) -> tuple[HttpFunction, dict[str, str]] | None:
        for function in self.functions:
            match = function.pattern.fullmatch(rest.rstrip("/"))
            if match is None:
                continue
            if function.methods is not None and method.upper() not in function.methods:
                continue  # the host has no route for this method: 404
            return function, {k: v for k, v in match.groupdict().items() if v is not None}
        return None

    def _authorized(self, level: str, key: str | None) -> bool:
        if level == "anonymous":
            return True
        if not key:
            return False
        if hmac.compare_digest(key.encode(), self.master_key.encode()):
            return True
        return level == "function" and hmac.compare_digest(key.encode(), self.function_key.encode())


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _response(result: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    if result is None:
        return 204, [], b""
    if isinstance(result, str | bytes):
        result = func.HttpResponse(result)
    if not isinstance(result, func.HttpResponse):
        log.warning("HTTP function returned %s, not an HttpResponse", type(result).__name__)
        return 500, [], b""
    headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in result.headers.items()
    ]
    if not any(k == b"content-type" for k, _ in headers) and result.mimetype:
        content_type = result.mimetype + (f"; charset={result.charset}" if result.charset else "")
        headers.append((b"content-type", content_type.encode("latin-1")))
    return result.status_code, headers, result.get_body()


@asynccontextmanager
async def serving(app: Any, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve an ASGI app under uvicorn on `host` and a free port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError("the local HTTP server stopped before it started")
            await asyncio.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
