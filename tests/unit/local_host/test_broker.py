"""The in-process broker keeps the Service Bus semantics the functions rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from local_host.broker import (
    MAX_DELIVERY_COUNT_EXCEEDED,
    BrokerMessage,
    CorrelationFilter,
    InMemoryServiceBus,
    LockLostError,
)
from local_host.topology import build_broker
from shared import names


def msg(message_id: str = "m1", **kw: object) -> BrokerMessage:
    return BrokerMessage(body=b"{}", message_id=message_id, **kw)  # type: ignore[arg-type]


def test_peek_lock_complete_and_delivery_count() -> None:
    bus = InMemoryServiceBus()
    queue = bus.add_queue("q")
    bus.send("q", msg())
    first = queue.receive()
    assert first is not None
    assert first.delivery_count == 1
    assert queue.receive() is None  # locked: invisible to other receivers
    queue.abandon(first)
    again = queue.receive()
    assert again is first
    assert again.delivery_count == 2
    queue.complete(again)
    assert queue.pending_count() == 0
    with pytest.raises(LockLostError):
        queue.complete(again)


def test_max_delivery_count_dead_letters_with_reason() -> None:
    bus = InMemoryServiceBus()
    queue = bus.add_queue("q", max_delivery_count=3)
    bus.send("q", msg())
    for _ in range(3):
        received = queue.receive()
        assert received is not None
        queue.abandon(received)
    assert queue.receive() is None
    (dead,) = queue.dead_letters
    assert dead.dead_letter_reason == MAX_DELIVERY_COUNT_EXCEEDED
    assert dead.delivery_count == 3


def test_lock_expiry_redelivers_with_higher_delivery_count() -> None:
    bus = InMemoryServiceBus()
    queue = bus.add_queue("q", lock_seconds=30)
    bus.send("q", msg())
    received = queue.receive()
    assert received is not None
    stale = BrokerMessage(body=b"", message_id="m1", lock_token=received.lock_token)
    assert queue.next_due() == pytest.approx(bus.now() + 30, abs=1)
    bus.advance_to(bus.now() + 31)
    again = queue.receive()
    assert again is not None
    assert again.delivery_count == 2
    with pytest.raises(LockLostError):  # the crashed worker's lock is gone
        queue.complete(stale)


def test_scheduled_messages_wait_for_their_time() -> None:
    bus = InMemoryServiceBus()
    queue = bus.add_queue("q")
    later = datetime.now(UTC) + timedelta(seconds=120)
    bus.send("q", msg(scheduled_enqueue_time=later))
    assert queue.receive() is None
    assert queue.pending_count() == 1
    bus.advance_to(later.timestamp())
    received = queue.receive()
    assert received is not None
    assert received.delivery_count == 1


def test_duplicate_detection_drops_a_seen_message_id() -> None:
    bus = InMemoryServiceBus()
    queue = bus.add_queue("q")
    assert bus.send("q", msg("same"))
    assert not bus.send("q", msg("same"))
    assert queue.active_count() == 1
    assert bus.duplicates_dropped == 1


def test_topic_copies_to_matching_subscriptions_only() -> None:
    bus = InMemoryServiceBus()
    bus.add_topic("t")
    shared = bus.add_subscription(
        "t", "shared", CorrelationFilter(subject="created", properties={"kind": "Shared"})
    )
    everything = bus.add_subscription("t", "all", None)
    bus.send("t", msg("a", subject="created", application_properties={"kind": "Shared"}))
    bus.send("t", msg("b", subject="created", application_properties={"kind": "Independent"}))
    bus.send("t", msg("c", subject="rejected", application_properties={"kind": "Shared"}))
    assert shared.active_count() == 1
    assert everything.active_count() == 3


def test_deployment_topology_follows_the_names_module() -> None:
    bus = build_broker()
    assert set(bus.queues) == {names.REQUESTS_QUEUE, names.UPDATES_QUEUE}
    topic = bus.topics[names.EVENTS_TOPIC]
    assert set(topic.subscriptions) == {names.CONNECT_SUBSCRIPTION, names.OUTCOMES_SUBSCRIPTION}
    rule, _ = topic.subscriptions[names.CONNECT_SUBSCRIPTION]
    assert rule is not None
    assert rule.subject == names.REFERRAL_CREATED
    assert dict(rule.properties) == names.CONNECT_FILTER_PROPERTIES
