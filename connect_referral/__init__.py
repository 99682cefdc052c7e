"""connect_referral: topic trigger on `referral-events` / `connect-referral`.
Logic: shared.handlers.connect."""

import azure.functions as func

from shared import names
from shared.invocation import run_connect

bp = func.Blueprint()


@bp.function_name("connect_referral")
@bp.service_bus_topic_trigger(
    arg_name="msg",
    topic_name=names.EVENTS_TOPIC,
    subscription_name=names.CONNECT_SUBSCRIPTION,
    connection=names.SERVICE_BUS_CONNECTION,
)
async def connect_referral(msg: func.ServiceBusMessage) -> None:
    await run_connect(msg)
