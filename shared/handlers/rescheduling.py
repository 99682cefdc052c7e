"""Coming back later on a queue: a scheduled copy of the message that counts what was spent.

Used by the queue-triggered handlers (create, update). The copy carries the attempts spent so
far (`relayAttempt`), the waits (`relayWaits`) and the lineage's first MessageId; its own
MessageId is unique per copy yet the same if the invocation is repeated, so the queue's
duplicate detection drops a repeat. The enqueue time is on the ledger's clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.contracts.envelope import InboundMessage, MessageMeta
from shared.handlers.common import HandlerDeps
from shared.names import PROP_ATTEMPT, PROP_ORIGINAL_MESSAGE_ID, PROP_WAITS
from shared.publishing.port import ScheduledMessage


async def schedule_copy(
    deps: HandlerDeps,
    message: InboundMessage,
    meta: MessageMeta,
    *,
    queue: str,
    attempts: int,
    waits: int,
    delay: float,
) -> None:
    props = dict(message.application_properties or {})
    props[PROP_ATTEMPT] = attempts
    props[PROP_WAITS] = waits
    props[PROP_ORIGINAL_MESSAGE_ID] = meta.original_message_id
    await deps.publisher.schedule(
        ScheduledMessage(
            queue=queue,
            body=message.get_body(),
            message_id=f"{meta.original_message_id}#retry{attempts}.{waits}",
            correlation_id=meta.correlation_id,
            application_properties=props,
            enqueue_at=datetime.fromtimestamp(deps.ledger.now() + delay, UTC),
        )
    )
