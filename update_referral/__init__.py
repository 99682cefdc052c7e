"""update_referral: queue trigger on `referral-updates`. Logic: shared.handlers.update."""

import azure.functions as func

from shared import names

bp = func.Blueprint()


@bp.function_name("update_referral")
@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name=names.UPDATES_QUEUE, connection=names.SERVICE_BUS_CONNECTION
)
async def update_referral(msg: func.ServiceBusMessage) -> None:
    # Imported on the first message, not at indexing (cold start), as create_referral does.
    from shared.invocation import run_update

    await run_update(msg)
