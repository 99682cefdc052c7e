"""`shared.auth.msal_http.MsalHttpClient`: msal's HTTP interface on httpx, HTTP to loopback."""

from __future__ import annotations

import httpx
import pytest

from shared.auth.msal_http import MsalHttpClient, is_loopback_host, loopback_http


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://127.0.0.1:8080/tenant", "http://127.0.0.1:8080/tenant"),
        (
            "https://127.45.6.7/t/v2.0/.well-known/openid-configuration?x=1",
            "http://127.45.6.7/t/v2.0/.well-known/openid-configuration?x=1",
        ),
        ("https://localhost:9/t", "http://localhost:9/t"),
        ("https://LOCALHOST:9/t", "http://LOCALHOST:9/t"),
        ("https://[::1]:7/t", "http://[::1]:7/t"),
        ("https://login.microsoftonline.com/t", "https://login.microsoftonline.com/t"),
        ("https://128.0.0.1/t", "https://128.0.0.1/t"),
        ("https://localhost.example.com/t", "https://localhost.example.com/t"),
        ("https://127.0.0.1.nip.io/t", "https://127.0.0.1.nip.io/t"),
        ("http://127.0.0.1:1/t", "http://127.0.0.1:1/t"),
    ],
)
def test_only_loopback_https_becomes_http(url: str, expected: str) -> None:
    assert loopback_http(url) == expected


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("10.0.0.1", False),
        ("::2", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_hosts(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


class Recorder:
    """A fake server: records each request and answers 200 with a small JSON body."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"ok": True}, headers={"Retry-After": "3"})


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(recorder: Recorder) -> MsalHttpClient:
    return MsalHttpClient(transport=httpx.MockTransport(recorder))


def test_post_form_encodes_a_dict(client: MsalHttpClient, recorder: Recorder) -> None:
    response = client.post(
        "https://127.0.0.1:5/t/oauth2/v2.0/token",
        params={"p": "1"},
        data={"grant_type": "refresh_token", "scope": "a b"},
        headers={"client-request-id": "c1", "x-missing": None},
    )

    sent = recorder.requests[0]
    assert str(sent.url) == "http://127.0.0.1:5/t/oauth2/v2.0/token?p=1"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.content == b"grant_type=refresh_token&scope=a+b"
    assert sent.headers["client-request-id"] == "c1"
    assert "x-missing" not in sent.headers
    assert response.status_code == 200
    assert response.text == '{"ok":true}'
    assert response.headers["retry-after"] == "3"


def test_post_sends_a_string_as_is(client: MsalHttpClient, recorder: Recorder) -> None:
    client.post("https://login.microsoftonline.com/t/x", data="raw=body&keep=as-is")

    sent = recorder.requests[0]
    assert sent.url.scheme == "https"
    assert sent.content == b"raw=body&keep=as-is"


def test_get_passes_params_and_ignores_requests_style_kwargs(
    client: MsalHttpClient, recorder: Recorder
) -> None:
    client.get("https://localhost:1/d", params={"api-version": "1.0"}, verify=True, timeout=2.5)

    sent = recorder.requests[0]
    assert str(sent.url) == "http://localhost:1/d?api-version=1.0"
    assert sent.extensions["timeout"]["read"] == 2.5


def test_raise_for_status_raises_on_errors() -> None:
    def failing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="down")

    with MsalHttpClient(transport=httpx.MockTransport(failing)) as client:
        response = client.get("https://127.0.0.1/x")

        assert response.status_code == 503
        with pytest.raises(httpx.HTTPStatusError):
            response.raise_for_status()


def test_default_timeout_is_bounded(recorder: Recorder) -> None:
    with MsalHttpClient(transport=httpx.MockTransport(recorder)) as client:
        client.get("https://127.0.0.1/x")

    assert recorder.requests[0].extensions["timeout"] == {
        "connect": 5.0,
        "read": 10.0,
        "write": 10.0,
        "pool": 10.0,
    }
