"""connect_referral: topic trigger on `referral-events` / `connect-referral`.
Logic: shared.handlers.connect."""

import azure.functions as func

from shared import names

bp = func.Blueprint()


@bp.function_name("connect_referral")
@bp.service_bus_topic_trigger(
    arg_name="msg",
    topic_name=names.EVENTS_TOPIC,
    subscription_name=names.CONNECT_SUBSCRIPTION,
    connection=names.SERVICE_BUS_CONNECTION,
)
async def connect_referral(msg: func.ServiceBusMessage) -> None:
    # On the first message, not when the worker indexes the app: pydantic and our models cost
    # more to import than azure.functions itself (cold start, bench/coldstart.py).
    from shared.invocation import run_connect

    await run_connect(msg)
