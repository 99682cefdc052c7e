"""Logging conventions: hashed keys, text and JSON lines, the PII and trace-context filters."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from local_host.log_lines import JsonFormatter, TextFormatter, configure_local_logging
from local_host.telemetry import Capture
from shared.telemetry import logs
from shared.telemetry.logs import (
    PiiFilter,
    TraceContextFilter,
    hash_key,
    id_for_telemetry,
    key_for_telemetry,
)
from shared.telemetry.pii import contact_scope, remember_contacts
from shared.telemetry.setup import LOGGER_ROOT
from shared.telemetry.tracing import tracer

log = logging.getLogger("referral_relay.test")


def test_hash_key_is_stable_short_and_prefixed() -> None:
    assert hash_key("crm-opp-1001") == hash_key("crm-opp-1001")
    assert hash_key("crm-opp-1001") != hash_key("crm-opp-1002")
    assert hash_key("crm-opp-1001").startswith("sha256:")
    assert len(hash_key("crm-opp-1001")) == len("sha256:") + 16
    # What the KQL `strcat("sha256:", substring(hash_sha256(k), 0, 16))` computes.
    assert hash_key("abc") == "sha256:ba7816bf8f01cfea"


def test_keys_are_hashed_unless_they_are_uuids() -> None:
    uuid = "0f968d87-8b66-4f00-82fb-89e6ab00636c"
    assert key_for_telemetry(uuid) == uuid
    assert key_for_telemetry("sue.smith@contoso.com") == hash_key("sue.smith@contoso.com")
    assert key_for_telemetry("crm-opp-1001") == hash_key("crm-opp-1001")
    assert key_for_telemetry(None) is None
    assert key_for_telemetry("") is None


def test_message_and_event_ids_are_hashed_like_keys_but_keep_their_shape() -> None:
    uuid = "0f968d87-8b66-4f00-82fb-89e6ab00636c"
    assert id_for_telemetry(uuid) == uuid
    assert id_for_telemetry("crm-opp-1001") == hash_key("crm-opp-1001")  # a MessageId = the key
    assert id_for_telemetry(f"referral-created:{uuid}") == f"referral-created:{uuid}"
    assert id_for_telemetry("referral-rejected:crm-opp-1001/m-1") == (
        "referral-rejected:" + hash_key("crm-opp-1001/m-1")
    )
    assert id_for_telemetry("crm-opp-1001#retry2.1") == hash_key("crm-opp-1001") + "#retry2.1"
    assert id_for_telemetry(f"{uuid}#retry1") == f"{uuid}#retry1"
    assert id_for_telemetry("not-an-event:crm-opp-1001") == hash_key("not-an-event:crm-opp-1001")
    assert id_for_telemetry(None) is None
    assert id_for_telemetry("") is None


def test_a_lone_surrogate_in_a_key_still_hashes() -> None:
    # Valid JSON ("\\ud800") but not encodable as UTF-8: telemetry must not crash on it (L3).
    assert hash_key("crm-\ud800").startswith("sha256:")
    event_id = id_for_telemetry("referral-failed:crm-\ud800")
    assert event_id is not None
    assert event_id.startswith("referral-failed:sha256:")


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_local_logging("json", logging.DEBUG, stream=stream, tracing=False)
    yield stream
    logging.getLogger(LOGGER_ROOT).removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_flat_fields(output: io.StringIO) -> None:
    log.info(
        "create_referral created",
        extra={logs.FUNCTION: "create_referral", logs.REFERRAL_ID: "r-1", logs.ATTEMPT: 2},
    )
    log.warning("second", extra={logs.ERROR_CODE: "throttled", logs.REQUEST_ID: None})
    first, second = _lines(output)
    assert first["message"] == "create_referral created"
    assert first["level"] == "INFO"
    assert first["logger"] == "referral_relay.test"
    assert str(first["ts"]).endswith("Z")
    assert (first["function"], first["referral_id"], first["attempt"]) == (
        "create_referral",
        "r-1",
        2,
    )
    assert second["error_code"] == "throttled"
    assert "request_id" not in second  # None is left out, not written as null


def test_the_pii_filter_masks_message_args_fields_and_exceptions(output: io.StringIO) -> None:
    with contact_scope():
        remember_contacts({"firstName": "Gwendolyn", "lastName": "Okafor"})
        try:
            raise ValueError("bad contact Gwendolyn Okafor <g.okafor@contoso.com>")
        except ValueError:
            log.exception(
                "failed for %s at %s",
                "Gwendolyn",
                "+1 425 555 0100",
                extra={"note": "mail g.okafor@contoso.com"},
            )
    (line,) = _lines(output)
    text = json.dumps(line)
    for secret in ("Gwendolyn", "Okafor", "g.okafor@contoso.com", "425 555 0100"):
        assert secret not in text
    assert line["message"] == "failed for [name] at [phone]"
    assert line["note"] == "mail [email]"
    assert "ValueError: bad contact [name] <[email]>" in str(line["exception"])


def test_trace_ids_come_from_the_current_span(output: io.StringIO, captured: Capture) -> None:
    with tracer().start_as_current_span("outer") as span:
        log.info("inside")
    log.info("outside")
    inside, outside = _lines(output)
    context = span.get_span_context()
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert "trace_id" not in outside


def test_text_lines_are_readable() -> None:
    record = logging.LogRecord("referral_relay.x", logging.WARNING, "", 0, "msg %s", ("a",), None)
    record.referral_id = "r-1"
    record.error_code = "throttled"
    line = TextFormatter().format(record)
    assert "WARNING" in line
    assert "msg a" in line
    assert "referral_id=r-1 error_code=throttled" in line
    assert "\n" not in line


def test_local_logging_defaults_to_text_and_replaces_its_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    relay = logging.getLogger(LOGGER_ROOT)
    configure_local_logging(stream=first, tracing=False)
    handler = configure_local_logging(stream=second, tracing=False)
    try:
        log.info("hello", extra={logs.OUTCOME: "created"})
        assert first.getvalue() == ""
        assert "hello  outcome=created" in second.getvalue()
        with pytest.raises(json.JSONDecodeError):
            json.loads(second.getvalue())
        assert [h for h in relay.handlers if h.get_name() == handler.get_name()] == [handler]
        assert relay.propagate is False
    finally:
        relay.removeHandler(handler)


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text' or 'json"):
        configure_local_logging("yaml", tracing=False)  # type: ignore[arg-type]


def test_filters_and_formatters_compose_without_a_configured_logger() -> None:
    record = logging.LogRecord(
        "referral_relay.x", logging.INFO, "", 0, "to %s", ("sue@contoso.com",), None
    )
    assert TraceContextFilter().filter(record)
    assert PiiFilter().filter(record)
    assert json.loads(JsonFormatter().format(record))["message"] == "to [email]"


def test_text_lines_do_not_repeat_what_the_message_says() -> None:
    record = logging.LogRecord(
        "referral_relay.invocation", logging.INFO, "", 0, "create_referral created", None, None
    )
    record.function, record.outcome, record.settled = "create_referral", "created", "complete"
    record.referral_id = "r-1"
    line = TextFormatter().format(record)
    assert line.endswith("create_referral created  referral_id=r-1")
    record.settled = "abandon"
    assert "settled=abandon" in TextFormatter().format(record)
