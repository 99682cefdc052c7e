"""create_referral: queue trigger on `referral-requests`. Logic: shared.handlers.create."""

import azure.functions as func

from shared import names

bp = func.Blueprint()


@bp.function_name("create_referral")
@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name=names.REQUESTS_QUEUE, connection=names.SERVICE_BUS_CONNECTION
)
async def create_referral(msg: func.ServiceBusMessage) -> None:
    # On the first message, not when the worker indexes the app: pydantic and our models cost
    # more to import than azure.functions itself (cold start, bench/coldstart.py).
    from shared.invocation import run_create

    await run_create(msg)
