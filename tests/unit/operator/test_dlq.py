"""`referral-relay dlq list|replay` against the in-memory bus."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from relay_cli.commands import dlq
from relay_cli.main import build_parser
from relay_cli.operator.memory import InMemoryBus, NotLocked
from relay_cli.operator.ports import CONNECT, REQUESTS, DeadLetter, PropertyValue
from shared.names import (
    DUPLICATE_DETECTION_WINDOW_MINUTES,
    EVENTS_TOPIC,
    PROP_ATTEMPT,
    PROP_ORIGINAL_MESSAGE_ID,
    PROP_REFERRAL_TYPE,
    REFERRAL_CREATED,
    REQUESTS_QUEUE,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=2)
PII = "jane.doe@example.com"


def body(**fields: Any) -> bytes:
    return json.dumps({"customerProfile": {"team": [{"email": PII}]}, **fields}).encode()


def run(bus: InMemoryBus, *argv: str) -> int:
    args = build_parser().parse_args(["dlq", *argv[:1], "--namespace", "sb-test", *argv[1:]])
    return dlq.run(args, bus=bus)


async def replay(bus: InMemoryBus, entity: Any = REQUESTS, **kwargs: Any) -> int:
    return await dlq.replay_dead_letters(bus, entity, max_count=50, now=lambda: NOW, **kwargs)


def remaining(bus: InMemoryBus, entity: Any = REQUESTS) -> list[DeadLetter]:
    return bus.dead_letters.get(entity.path, [])


def test_list_shows_reasons_counts_and_times_but_no_customer_data(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bus = InMemoryBus()
    bus.dead_letter(
        REQUESTS,
        body(externalReferenceId="crm-1"),
        message_id="crm-1",
        reason="MaxDeliveryCountExceeded",
        description="Message could not be consumed after 10 delivery attempts.",
        delivery_count=10,
        enqueued_time=OLD,
        properties={"source": "crm-internal-tag"},
    )

    assert run(bus, "list") == 0

    out = capsys.readouterr().out
    assert "crm-1" in out
    assert "MaxDeliveryCountExceeded" in out
    assert "after 10 delivery attempts" in out
    assert " 10 " in out
    assert "2025-06-01T10:00:00Z" in out
    assert PII not in out
    assert "crm-internal-tag" not in out
    assert "1 dead-lettered message(s) on referral-requests" in out
    assert len(remaining(bus)) == 1  # listing changes nothing


def test_list_stops_at_max_and_says_there_may_be_more(capsys: pytest.CaptureFixture[str]) -> None:
    bus = InMemoryBus()
    for n in range(3):
        bus.dead_letter(CONNECT, body(), message_id=f"evt-{n}", enqueued_time=OLD)
    assert run(bus, "list", "--entity", CONNECT.path, "--max", "2") == 0
    out = capsys.readouterr().out
    assert "evt-0" in out
    assert "evt-2" not in out
    assert "there may be more" in out


async def test_replay_resends_an_exact_copy_then_removes_the_dead_letter() -> None:
    bus = InMemoryBus()
    bus.dead_letter(
        REQUESTS,
        body(externalReferenceId="crm-1"),
        message_id="crm-1",
        correlation_id="corr-1",
        enqueued_time=OLD,
        properties={"source": "crm", PROP_ATTEMPT: 2, PROP_ORIGINAL_MESSAGE_ID: "crm-1"},
    )

    assert await replay(bus) == 0

    (copy,) = bus.sent[REQUESTS_QUEUE]
    assert copy.body == body(externalReferenceId="crm-1")
    assert copy.message_id == "crm-1"
    assert copy.correlation_id == "corr-1"
    assert copy.application_properties == {
        "source": "crm",
        PROP_ATTEMPT: 2,
        PROP_ORIGINAL_MESSAGE_ID: "crm-1",
    }  # Service Bus's DeadLetterReason/Description stay behind
    assert remaining(bus) == []


async def test_subscription_dead_letters_go_back_through_the_topic_with_their_subject() -> None:
    bus = InMemoryBus()
    bus.dead_letter(
        CONNECT,
        b'{"specversion": "1.0"}',
        message_id="referral-created:r-1",
        subject=REFERRAL_CREATED,
        enqueued_time=OLD,
        properties={PROP_REFERRAL_TYPE: "Shared"},
    )

    assert await replay(bus, CONNECT) == 0

    (copy,) = bus.sent[EVENTS_TOPIC]
    assert copy.subject == REFERRAL_CREATED  # still matches the connect-referral filter
    assert copy.application_properties == {PROP_REFERRAL_TYPE: "Shared"}
    assert remaining(bus, CONNECT) == []


async def test_a_failed_resend_keeps_the_dead_letter_and_the_others_proceed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bus = InMemoryBus(refuse={"crm-2"})
    for n in (1, 2, 3):
        bus.dead_letter(REQUESTS, body(), message_id=f"crm-{n}", enqueued_time=OLD)

    assert await replay(bus) == 1

    assert [m.message_id for m in bus.sent[REQUESTS_QUEUE]] == ["crm-1", "crm-3"]
    assert [d.message_id for d in remaining(bus)] == ["crm-2"]
    out = capsys.readouterr().out
    assert "FAILED seq=2 MessageId=crm-2: SendRefused; kept" in out
    assert "2 replayed, 0 held, 0 skipped, 1 failed" in out
    # Its lock was released: a later replay can take it.
    bus.refuse.clear()
    assert await replay(bus) == 0
    assert remaining(bus) == []


async def test_dead_letters_inside_the_duplicate_window_are_held_not_lost(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bus = InMemoryBus()
    recent = NOW - timedelta(minutes=DUPLICATE_DETECTION_WINDOW_MINUTES - 1)
    bus.dead_letter(REQUESTS, body(), message_id="crm-9", enqueued_time=recent)

    assert await replay(bus) == 1

    assert bus.sent == {}
    assert [d.message_id for d in remaining(bus)] == ["crm-9"]
    assert "hold seq=1 MessageId=crm-9: duplicate detection would drop it until" in (
        capsys.readouterr().out
    )


async def test_dry_run_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    bus = InMemoryBus()
    bus.dead_letter(REQUESTS, body(), message_id="crm-1", enqueued_time=OLD)
    bus.dead_letter(REQUESTS, body(), message_id="crm-2", enqueued_time=NOW)

    assert await replay(bus, dry_run=True) == 0

    assert bus.sent == {}
    assert len(remaining(bus)) == 2
    out = capsys.readouterr().out
    assert "would replay seq=1 MessageId=crm-1: to referral-requests" in out
    assert "would hold seq=2 MessageId=crm-2" in out
    assert PII not in out


async def test_as_new_starts_a_new_lineage_for_keyed_messages_only() -> None:
    bus = InMemoryBus()
    props: dict[str, PropertyValue] = {
        PROP_ATTEMPT: 4,
        PROP_ORIGINAL_MESSAGE_ID: "crm-1",
        "source": "crm",
    }
    bus.dead_letter(
        REQUESTS,
        body(externalReferenceId="crm-1"),
        message_id="crm-1",
        properties=props,
        enqueued_time=NOW,
    )
    bus.dead_letter(REQUESTS, body(), message_id="generated-1", enqueued_time=OLD)

    assert await replay(bus, as_new=True) == 1

    (copy,) = bus.sent[REQUESTS_QUEUE]
    assert copy.message_id not in {"crm-1", "generated-1"}
    assert copy.application_properties == {"source": "crm"}  # reschedule counters cleared
    assert [d.message_id for d in remaining(bus)] == ["generated-1"]  # no key: left alone


async def test_as_new_gives_a_subscription_event_a_new_lineage_through_the_topic() -> None:
    # connect's key is the engagement in the event body, so a new MessageId keeps it.
    bus = InMemoryBus()
    props: dict[str, PropertyValue] = {PROP_REFERRAL_TYPE: "Shared", PROP_ATTEMPT: 2}
    bus.dead_letter(
        CONNECT,
        b'{"specversion": "1.0"}',
        message_id="referral-created:r-1",
        subject=REFERRAL_CREATED,
        properties=props,
        enqueued_time=NOW,  # inside the duplicate window: a new MessageId is not dropped
    )

    assert await replay(bus, CONNECT, as_new=True) == 0

    (copy,) = bus.sent[EVENTS_TOPIC]
    assert copy.message_id != "referral-created:r-1"
    assert copy.subject == REFERRAL_CREATED
    assert copy.application_properties == {PROP_REFERRAL_TYPE: "Shared"}
    assert remaining(bus, CONNECT) == []


def test_replay_through_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    bus = InMemoryBus()
    bus.dead_letter(
        CONNECT, body(), message_id="evt-1", enqueued_time=datetime(2020, 1, 1, tzinfo=UTC)
    )
    assert run(bus, "replay", "--entity", CONNECT.path, "--max", "5") == 0
    assert [m.message_id for m in bus.sent[EVENTS_TOPIC]] == ["evt-1"]
    assert "1 replayed" in capsys.readouterr().out


def test_entity_and_max_are_checked_by_the_parser() -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(
            ["dlq", "list", "--namespace", "n", "--entity", "referral-events/outcomes"]
        )
    with pytest.raises(SystemExit):
        parser.parse_args(["dlq", "replay", "--namespace", "n", "--max", "0"])


async def test_the_in_memory_queue_settles_only_what_it_locked() -> None:
    bus = InMemoryBus()
    letter = bus.dead_letter(REQUESTS, body(), message_id="crm-1")
    async with bus.dead_letter_queue(REQUESTS) as first, bus.dead_letter_queue(REQUESTS) as second:
        assert await first.receive(5) == [letter]
        assert await second.receive(5) == []  # locked by the first receiver
        with pytest.raises(NotLocked):
            await second.complete(letter)
    async with bus.dead_letter_queue(REQUESTS) as third:  # closing released the lock
        assert await third.receive(5) == [letter]
