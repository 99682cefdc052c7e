"""msal's `http_client`, on httpx, with plain HTTP to loopback authorities.

msal accepts only `https://` authorities, while the offline sandbox serves plain HTTP on
loopback. The sandbox therefore advertises `https://127.0.0.1:<port>/<tenant>` (and https
endpoints in its OpenID document), and this client rewrites `https://` to `http://` for loopback
hosts only: 127.0.0.0/8, `::1` and `localhost`. Every other host keeps https, so in production
the adapter is a plain httpx client for Entra ID.

msal's interface (`msal.oauth2cli.http.HttpClient`) is two methods, `post(url, params, data,
headers, **kwargs)` and `get(url, params, headers, **kwargs)`, each returning a response with
`status_code`, `text`, `headers` and `raise_for_status()`: an `httpx.Response` is one. msal
retries nothing itself when given its own client; our token provider owns retries.

    app = msal.ConfidentialClientApplication(
        client_id, authority=authority, client_credential=credential,
        http_client=MsalHttpClient(), instance_discovery=False)  # loopback authority

Pass `transport=` (an `httpx.BaseTransport`) to route requests elsewhere in tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx

from shared.loopback import is_loopback_host

DEFAULT_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)


def loopback_http(url: str) -> str:
    """`url` with `https://` turned into `http://` when its host is loopback; else unchanged."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "https" and is_loopback_host(parts.hostname):
        return urlunsplit(("http", *parts[1:]))
    return url


def _headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    # msal sometimes passes None values (e.g. a missing correlation id): drop them.
    return {k: str(v) for k, v in (headers or {}).items() if v is not None}


class MsalHttpClient:
    """A synchronous httpx client shaped as msal's `http_client`. Close it when done."""

    def __init__(
        self,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    def post(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | str | bytes | None = None,
        headers: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """POST; a dict `data` is form-encoded, a str/bytes `data` is sent as is."""
        # msal passes a signed client assertion as bytes; httpx would send str(bytes) ("b'...'").
        form = (
            {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
            if isinstance(data, Mapping)
            else None
        )
        content = data if isinstance(data, str | bytes) else None
        return self._client.post(
            loopback_http(url),
            params=dict(params) if params else None,
            data=form,
            content=content,
            headers=_headers(headers),
            **self._timeout(kwargs),
        )

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        return self._client.get(
            loopback_http(url),
            params=dict(params) if params else None,
            headers=_headers(headers),
            **self._timeout(kwargs),
        )

    @staticmethod
    def _timeout(kwargs: Mapping[str, Any]) -> dict[str, Any]:
        # msal may pass requests-style keyword arguments; only `timeout` means something here.
        timeout = kwargs.get("timeout")
        return {"timeout": timeout} if timeout is not None else {}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> MsalHttpClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
