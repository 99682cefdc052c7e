"""What each function body does: build nothing, call the handler, report the invocation once.

Blueprints call `run_create` / `run_connect` / `run_update`; the dependencies come from the
composition root (`shared.bootstrap`). An exception propagates so the Functions host abandons
the message (autoCompleteMessages: a normal return completes it).

Telemetry wraps every invocation here (`shared.telemetry.invocations.watch`): the span that
continues the message's trace, the contact registry of the PII safety net, a tracing publisher,
one summary log line and the outcome metrics — so no handler has to remember any of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from shared import bootstrap
from shared.contracts.envelope import InboundMessage, read_meta
from shared.handlers.common import HandlerDeps, Outcome, RetryLater
from shared.telemetry.invocations import watch
from shared.telemetry.outcomes import Invocation, record

Handler = Callable[[InboundMessage, HandlerDeps], Awaitable[Outcome]]


async def run_create(message: InboundMessage) -> None:
    from shared.handlers.create import handle_create

    await _invoke("create_referral", handle_create, message)


async def run_connect(message: InboundMessage) -> None:
    from shared.handlers.connect import handle_connect

    await _invoke("connect_referral", handle_connect, message)


async def run_update(message: InboundMessage) -> None:
    from shared.handlers.update import handle_update

    await _invoke("update_referral", handle_update, message)


async def _invoke(function: str, handler: Handler, message: InboundMessage) -> None:
    meta = read_meta(message)
    with watch(function, message, meta) as telemetry:

        def report(outcome: Outcome | None, error: BaseException | None = None) -> None:
            invocation = Invocation(
                function=function,
                message_id=meta.message_id,
                original_message_id=meta.original_message_id,
                correlation_id=meta.correlation_id,
                delivery_count=meta.delivery_count,
                outcome=outcome,
                error=type(error).__name__ if error else None,
                settled="abandon" if error else "complete",
            )
            record(telemetry.finish(invocation, error))

        try:
            deps = telemetry.deps(await bootstrap.handler_deps())
            outcome = await handler(message, deps)
        except RetryLater as exc:
            report(exc.outcome, exc)
            raise
        except BaseException as exc:
            report(None, exc)
            raise
        report(outcome)
