"""Azure failures of the operator commands as one line that says what to do."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError
from azure.servicebus.exceptions import (
    MessagingEntityNotFoundError,
    ServiceBusAuthorizationError,
    ServiceBusConnectionError,
)

from relay_cli.main import main
from relay_cli.operator.runner import Unreachable, describe_failure
from relay_cli.operator.servicebus import CLIENT_RETRY

HOST = "sb-relay.servicebus.windows.net"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (CredentialUnavailableError("no az"), "az login"),
        (ClientAuthenticationError("expired"), "azd auth login"),
        (ServiceBusAuthorizationError(message="denied"), "Data Sender"),
        (MessagingEntityNotFoundError(message="gone"), "no such queue"),
        (ServiceBusConnectionError(message="socket"), f"cannot reach {HOST}"),
        (Unreachable(HOST), "does not resolve"),
    ],
)
def test_each_failure_is_one_line_naming_the_host(exc: BaseException, expected: str) -> None:
    line = describe_failure(exc, HOST)
    assert expected in line
    assert HOST in line
    assert "\n" not in line


@pytest.mark.parametrize(
    "argv",
    [
        ["send", "--namespace", "sb-x.invalid", "samples/independent.json"],
        ["dlq", "list", "--namespace", "sb-x.invalid"],
        ["outcomes", "peek", "--namespace", "sb-x.invalid"],
    ],
)
def test_a_namespace_that_does_not_resolve_fails_at_once_with_its_host(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import REPO

    monkeypatch.chdir(REPO)
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot reach sb-x.invalid" in err


def test_the_client_retries_are_bounded() -> None:
    assert CLIENT_RETRY["retry_total"] <= 1
    assert CLIENT_RETRY["retry_backoff_max"] <= 2
