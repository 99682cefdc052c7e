"""Issue 7 §5: every bundled sample through every fault scenario, with every exporter captured
(spans, OpenTelemetry log records, metrics, the local text and JSON log lines) and every event
published — and not one occurrence of any contact's email, phone number or name.

The contacts are read from the samples themselves (including the broken JSON line, by pattern),
so a new sample is covered without touching this test.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from local_host.host import WorkerCrash
from local_host.log_lines import JsonFormatter, TextFormatter
from local_host.partner import PartnerConnection
from local_host.stack import LocalStack, local_stack
from local_host.telemetry import Capture
from partner_sandbox import FaultSpec
from partner_sandbox.faults import Fault
from shared import names
from shared.telemetry.logs import PiiFilter, TraceContextFilter
from shared.telemetry.setup import LOGGER_ROOT
from tests.functional.telemetry.conftest import FAST

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "samples"
EXAMPLE = REPO / "tests" / "data" / "referral-example-request.json"
_FIELD = re.compile(r'"(firstName|lastName|email|phoneNumber)"\s*:\s*"([^"]+)"')
_CUSTOMER = re.compile(r'"customerProfile"\s*:\s*\{\s*"name"\s*:\s*"([^"]+)"')


def messages() -> list[tuple[str, bytes]]:
    out = [(p.name, p.read_bytes()) for p in sorted(SAMPLES.glob("*.json"))]
    for number, line in enumerate((SAMPLES / "invalid.jsonl").read_text().splitlines(), 1):
        if line.strip():
            out.append((f"invalid.jsonl:{number}", line.encode()))
    out.append(("example", EXAMPLE.read_bytes()))
    out.append(("independent.json again", (SAMPLES / "independent.json").read_bytes()))
    return out


def contacts() -> set[str]:
    found: set[str] = set()
    for _, raw in messages():
        text = raw.decode()
        found |= {value for _, value in _FIELD.findall(text)}
        found |= set(_CUSTOMER.findall(text))
    return found


def _needle(value: str) -> re.Pattern[str]:
    digits = re.sub(r"\D", "", value)
    if "@" not in value and len(digits) >= 7:  # a phone number, however it is written
        return re.compile(r"(?<![\w])" + r"[\s().\-]*".join(digits) + r"(?!\w)")
    return re.compile(r"(?<!\w)" + re.escape(value) + r"(?!\w)", re.IGNORECASE)


NEEDLES = {value: _needle(value) for value in contacts()}


def test_the_samples_have_contacts_to_look_for() -> None:
    assert {"sue.smith@contoso.com", "Smith", "1234567890", "Contoso Customer Inc"} <= set(NEEDLES)


@dataclass
class LocalLines:
    text: io.StringIO = field(default_factory=io.StringIO)
    json: io.StringIO = field(default_factory=io.StringIO)


@pytest.fixture
def local_lines() -> Iterator[LocalLines]:
    """What `referral-relay run` would print, in both formats, at DEBUG."""
    lines = LocalLines()
    relay = logging.getLogger(LOGGER_ROOT)
    handlers = []
    for stream, formatter in ((lines.text, TextFormatter()), (lines.json, JsonFormatter())):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handler.addFilter(TraceContextFilter())
        handler.addFilter(PiiFilter())
        relay.addHandler(handler)
        handlers.append(handler)
    level = relay.level
    relay.setLevel(logging.DEBUG)
    yield lines
    relay.setLevel(level)
    for handler in handlers:
        relay.removeHandler(handler)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def everything_exported(captured: Capture, lines: LocalLines, stack: LocalStack) -> dict[str, str]:
    spans: list[str] = []
    for span in captured.spans():
        spans += [span.name, span.status.description or "", *_strings(dict(span.attributes or {}))]
        for event in span.events:
            spans += [event.name, *_strings(dict(event.attributes or {}))]
    logs = []
    for record in captured.logs():
        logs += [
            *_strings(record.log_record.body),
            *_strings(dict(record.log_record.attributes or {})),
        ]
    metric_attributes = [s for _, attrs, _ in captured.metric_points() for s in _strings(attrs)]
    events = []
    for sent in stack.publisher.events:
        events += [sent.body.decode(), *_strings(sent.application_properties)]
    return {
        "spans": "\n".join(spans),
        "logs": "\n".join(logs),
        "metrics": "\n".join(metric_attributes),
        "text lines": lines.text.getvalue(),
        "json lines": lines.json.getvalue(),
        "events": "\n".join(events),
    }


Scenario = Callable[[PartnerConnection], None]


def _script(*faults: tuple[Fault, str, int]) -> Scenario:
    def setup(partner: PartnerConnection) -> None:
        assert partner.app is not None
        partner.app.sandbox.faults.configure(spec=FaultSpec.parse("retry-after=0.05"))
        for fault, route, count in faults:
            partner.app.sandbox.faults.script(fault, route, count)

    return setup


def _spec(spec: str, *, token_endpoint: bool = False) -> Scenario:
    def setup(partner: PartnerConnection) -> None:
        assert partner.app is not None
        faults = partner.app.sandbox.faults
        faults.configure(spec=FaultSpec.parse(spec), token_endpoint=token_endpoint)

    return setup


def _revoked(partner: PartnerConnection) -> None:
    assert partner.app is not None
    partner.app.sandbox.tokens.revoke_refresh_tokens(None)


SCENARIOS: dict[str, Scenario] = {
    "no faults": _script(),
    "429 throttling": _script((Fault.THROTTLE, "create", 2), (Fault.THROTTLE, "get", 1)),
    "500 and 503": _script((Fault.ERROR, "create", 1), (Fault.UNAVAILABLE, "list", 2)),
    "dropped connections": _script((Fault.DROP, "create", 1), (Fault.DROP, "get", 1)),
    "hung requests": _script((Fault.HANG, "create", 1), (Fault.HANG, "list", 1)),
    "created but the answer lost": _script((Fault.LOST, "create", 2)),
    "token endpoint down": _script((Fault.UNAVAILABLE, "token", 2)),
    "persistent 503 (give up)": _spec("503=1,retry-after=0.05"),
    "random mix": _spec("429=0.1,500=0.05,503=0.05,drop=0.05,lost=0.05,retry-after=0.05"),
    "refresh token revoked": _revoked,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_no_contact_data_in_any_telemetry(
    scenario: str, partner: PartnerConnection, captured: Capture, local_lines: LocalLines
) -> None:
    if scenario == "token endpoint down":
        assert partner.app is not None
        partner.app.sandbox.faults.configure(token_endpoint=True)
    SCENARIOS[scenario](partner)
    async with local_stack(partner.api, config=FAST) as stack:
        for source, body in messages():
            stack.publish(body, message_id=None, properties={"source": source})
        assert await stack.drain()
    exported = everything_exported(captured, local_lines, stack)
    assert len(captured.spans()) > len(messages())  # the run did happen, and was traced
    assert exported["json lines"]
    leaks = {
        where: sorted(value for value, needle in NEEDLES.items() if needle.search(text))
        for where, text in exported.items()
    }
    assert not any(leaks.values()), leaks


async def test_no_contact_data_when_a_worker_crashes_between_steps(
    partner: PartnerConnection, captured: Capture, local_lines: LocalLines
) -> None:
    crashed: set[str] = set()

    async def crash_once(step: str) -> None:
        if step not in crashed:
            crashed.add(step)
            raise WorkerCrash(step)

    async with local_stack(partner.api, config=FAST, checkpoint=crash_once) as stack:
        for _, body in messages():
            stack.publish(body)
        assert await stack.drain()
    assert crashed == {"claimed", "posted", "recorded", "published"}
    exported = everything_exported(captured, local_lines, stack)
    leaks = {
        where: sorted(value for value, needle in NEEDLES.items() if needle.search(text))
        for where, text in exported.items()
    }
    assert not any(leaks.values()), leaks
    assert names.REFERRAL_CREATED in {e.type for e in stack.publisher.events}
