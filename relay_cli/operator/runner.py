"""Running an operator command against a real namespace (imports azure-* only when called).

Failures are one line on stderr that says what to do — the host that cannot be reached, the
sign-in to run, the role that is missing — never an SDK traceback, and soon: the host name is
resolved first (a typo fails at once), and the client's retries are bounded
(`servicebus.CLIENT_RETRY`).
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Final

from relay_cli.operator.ports import OperatorBus

EXIT_AZURE: Final = 3
AMQP_PORT: Final = 5671
RESOLVE_TIMEOUT_SECONDS: Final = 5.0
SIGN_IN_HINT: Final = "sign in with `az login` (or `azd auth login`) and try again"


class Unreachable(Exception):
    """The namespace's host name does not resolve."""


async def on_namespace(
    namespace: str, work: Callable[[OperatorBus], Awaitable[int]], *, command: str
) -> int:
    """Open the namespace with DefaultAzureCredential, run `work`, report Azure failures briefly."""
    from azure.core.exceptions import AzureError

    from relay_cli.operator.servicebus import ServiceBusOperatorBus, fully_qualified

    host = fully_qualified(namespace)
    try:
        await resolve(host)
        async with ServiceBusOperatorBus(namespace) as bus:
            return await work(bus)
    except (AzureError, Unreachable) as exc:  # sign-in, permission or connection failures
        print(f"referral-relay {command}: {describe_failure(exc, host)}", file=sys.stderr)
        return EXIT_AZURE


async def resolve(host: str) -> None:
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(
            loop.getaddrinfo(host, AMQP_PORT, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS
        )
    except (OSError, TimeoutError):
        raise Unreachable(host) from None


def describe_failure(exc: BaseException, host: str) -> str:
    """One line for an Azure failure on `host`: what went wrong and what to do."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.servicebus.exceptions import (
        MessagingEntityNotFoundError,
        ServiceBusAuthenticationError,
        ServiceBusAuthorizationError,
        ServiceBusCommunicationError,
        ServiceBusConnectionError,
    )

    if isinstance(exc, Unreachable):
        return f"cannot reach {host}: the name does not resolve (check --namespace and the network)"
    if isinstance(exc, ClientAuthenticationError | ServiceBusAuthenticationError):
        return f"not signed in to Azure for {host}: {SIGN_IN_HINT}"
    if isinstance(exc, ServiceBusAuthorizationError):
        return (
            f"signed in, but not allowed on {host}: the account needs the Azure Service Bus "
            "Data Sender / Data Receiver role on the entity (infra/modules/roles.bicep)"
        )
    if isinstance(exc, MessagingEntityNotFoundError):
        return f"{host} has no such queue, topic or subscription (check --entity / --queue)"
    if isinstance(exc, ServiceBusConnectionError | ServiceBusCommunicationError):
        return f"cannot reach {host} (network, firewall or private endpoint?)"
    return f"{type(exc).__name__} from {host}"
