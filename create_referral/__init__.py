"""create_referral: queue trigger on `referral-requests`. Logic: shared.handlers.create."""

import azure.functions as func

from shared import names
from shared.invocation import run_create

bp = func.Blueprint()


@bp.function_name("create_referral")
@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name=names.REQUESTS_QUEUE, connection=names.SERVICE_BUS_CONNECTION
)
async def create_referral(msg: func.ServiceBusMessage) -> None:
    await run_create(msg)
