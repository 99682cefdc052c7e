"""Running an operator command against a real namespace (imports azure-* only when called)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Final

from relay_cli.operator.ports import OperatorBus

EXIT_AZURE: Final = 3


async def on_namespace(
    namespace: str, work: Callable[[OperatorBus], Awaitable[int]], *, command: str
) -> int:
    """Open the namespace with DefaultAzureCredential, run `work`, report Azure failures briefly."""
    from azure.core.exceptions import AzureError

    from relay_cli.operator.servicebus import ServiceBusOperatorBus

    try:
        async with ServiceBusOperatorBus(namespace) as bus:
            return await work(bus)
    except AzureError as exc:  # sign-in, permission or connection failures: no traceback
        print(f"referral-relay {command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_AZURE
