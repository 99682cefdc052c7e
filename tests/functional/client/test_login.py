"""`referral-relay login` against the sandbox authority: unattended device code sign-in."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from partner_sandbox import SandboxApp, SandboxConfig, create_app
from partner_sandbox.server import ReadyInfo, serve_in_thread
from relay_cli.main import main
from shared.auth.msal_http import MsalHttpClient

CLIENT_ID = "9a8b7c6d-0000-4000-8000-00000000abcd"
CLI = Path(sys.executable).parent / "referral-relay"


def redeem(url: str, tenant: str, refresh_token: str) -> httpx.Response:
    """Ask the sandbox's token endpoint to redeem a refresh token (what the function app does)."""
    return httpx.post(
        f"{url}/{tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "refresh_token": refresh_token,
            "scope": "https://api.partner.microsoft.com/.default offline_access",
        },
    )


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("RELAY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def sandbox() -> Iterator[tuple[SandboxApp, ReadyInfo]]:
    app = create_app(SandboxConfig(seed=5))
    with serve_in_thread(app) as ready:
        yield app, ready


def test_the_console_script_signs_in_unattended_and_stores_a_working_token(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    server = subprocess.Popen(  # noqa: S603 - our own console script
        [str(CLI), "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline())
        store = tmp_path / "secrets" / "refresh-token"
        store.parent.mkdir(mode=0o700)  # a store names a file in an existing directory

        login = subprocess.run(  # noqa: S603 - our own console script
            [
                str(CLI),
                "login",
                "--authority",
                ready["authority"],
                "--client-id",
                CLIENT_ID,
                "--store",
                f"file://{store}",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

        token = store.read_text()
        tenant = ready["authority"].rsplit("/", 1)[1]
        redeemed = redeem(ready["url"], tenant, token)
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert login.returncode == 0, login.stderr
    assert login.stdout == f"Stored the Partner Center refresh token in {store.as_uri()}\n"
    assert "/devicelogin" in login.stderr  # the verification URL and the code were shown
    assert "enter the code" in login.stderr
    assert token not in login.stdout + login.stderr
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert redeemed.status_code == 200
    assert redeemed.json()["access_token"]


def test_an_authority_without_a_tenant_takes_the_tenant_option(
    sandbox: tuple[SandboxApp, ReadyInfo],
    tmp_path: Path,
    clean_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app, ready = sandbox
    host, tenant = ready.authority.rsplit("/", 1)

    code = main(
        [
            "login",
            "--authority",
            host,
            "--tenant",
            tenant,
            "--client-id",
            CLIENT_ID,
            "--store",
            f"file://{tmp_path / 'rt'}",
        ]
    )

    assert code == 0
    assert app.sandbox.stats()["tokenRequests"] == {"devicecode": 1, "device_code": 1}
    assert redeem(ready.url, tenant, (tmp_path / "rt").read_text()).status_code == 200


def test_defaults_come_from_the_app_settings(
    sandbox: tuple[SandboxApp, ReadyInfo],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_env: None,
) -> None:
    _, ready = sandbox
    host, tenant = ready.authority.rsplit("/", 1)
    monkeypatch.setenv("RELAY_AUTHORITY_HOST", host)
    monkeypatch.setenv("RELAY_PARTNER_TENANT_ID", tenant)
    monkeypatch.setenv("RELAY_PARTNER_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("RELAY_REFRESH_TOKEN_STORE", f"file://{tmp_path / 'rt'}")

    assert main(["login"]) == 0
    assert redeem(ready.url, tenant, (tmp_path / "rt").read_text()).status_code == 200


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--store", "file:///tmp/x"], "--client-id (or RELAY_PARTNER_CLIENT_ID) is required"),
        (["--client-id", "c"], "--store (or RELAY_REFRESH_TOKEN_STORE) is required"),
        (["--client-id", "c", "--tenant", "t", "--store", "s3://x"], "store URL must start with"),
        (["--client-id", "c", "--store", "file:///tmp/x"], "--tenant (or RELAY_PARTNER_TENANT_ID)"),
    ],
)
def test_usage_errors_say_what_is_missing(
    args: list[str], problem: str, clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["login", *args]) == 2
    assert problem in capsys.readouterr().err


def test_an_unreachable_authority_fails_cleanly_and_stores_nothing(
    tmp_path: Path, clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(SandboxConfig())
    with serve_in_thread(app) as ready:
        authority = ready.authority  # a port nobody listens on once this block ends

    code = main(
        [
            "login",
            "--authority",
            authority,
            "--client-id",
            CLIENT_ID,
            "--store",
            f"file://{tmp_path / 'rt'}",
        ]
    )

    assert code == 1
    assert "Sign-in failed: the token endpoint is unavailable" in capsys.readouterr().err
    assert not (tmp_path / "rt").exists()


def test_a_store_in_a_directory_that_does_not_exist_is_refused_and_nothing_is_created(
    sandbox: tuple[SandboxApp, ReadyInfo],
    tmp_path: Path,
    clean_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, ready = sandbox
    missing = tmp_path / "nonexistent" / "dir"

    code = main(
        [
            "login",
            "--authority",
            ready.authority,
            "--client-id",
            CLIENT_ID,
            "--store",
            f"file://{missing / 'token'}",
        ]
    )

    assert code != 0
    err = capsys.readouterr().err
    assert "does not exist" in err
    assert str(missing.parent) in err
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_tenant_fails_cleanly(
    sandbox: tuple[SandboxApp, ReadyInfo],
    tmp_path: Path,
    clean_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, ready = sandbox
    host = ready.authority.rsplit("/", 1)[0]

    code = main(
        [
            "login",
            "--authority",
            f"{host}/00000000-0000-4000-8000-00000000dead",
            "--client-id",
            CLIENT_ID,
            "--store",
            f"file://{tmp_path / 'rt'}",
        ]
    )

    assert code == 1
    assert "Sign-in failed" in capsys.readouterr().err
    assert not (tmp_path / "rt").exists()


class RecordingMsalHttpClient(MsalHttpClient):
    """The real adapter, keeping a copy of every form msal posts."""

    forms: ClassVar[list[dict[str, Any]]] = []

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kw: Any
    ) -> httpx.Response:
        if isinstance(data, dict):
            RecordingMsalHttpClient.forms.append({"url": url, **data})
        return super().post(url, params, data, headers, **kw)


def test_a_confidential_sign_in_authenticates_the_app_on_the_token_request(
    sandbox: tuple[SandboxApp, ReadyInfo],
    tmp_path: Path,
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, ready = sandbox
    tenant = ready.authority.rsplit("/", 1)[1]
    monkeypatch.setenv("RELAY_CLIENT_SECRET", "login-time-secret")
    monkeypatch.setattr("shared.auth.msal_http.MsalHttpClient", RecordingMsalHttpClient)
    RecordingMsalHttpClient.forms.clear()

    code = main(
        [
            "login",
            "--confidential",
            "secret",
            "--authority",
            ready.authority,
            "--client-id",
            CLIENT_ID,
            "--store",
            f"file://{tmp_path / 'rt'}",
        ]
    )

    assert code == 0
    device, token = RecordingMsalHttpClient.forms
    assert device["url"].endswith("/oauth2/v2.0/devicecode")
    assert "offline_access" in device["scope"].split()
    assert token["url"].endswith("/oauth2/v2.0/token")
    assert token["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code"
    assert token["client_secret"] == "login-time-secret"
    assert redeem(ready.url, tenant, (tmp_path / "rt").read_text()).status_code == 200


def test_a_confidential_sign_in_needs_the_app_credential(
    clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "login",
            "--confidential",
            "certificate",
            "--authority",
            "https://127.0.0.1:9/t",
            "--client-id",
            "c",
            "--store",
            "file:///tmp/x",
        ]
    )

    assert code == 2
    assert (
        "RELAY_CLIENT_CERTIFICATE_PEM: required with --confidential certificate"
        in capsys.readouterr().err
    )
