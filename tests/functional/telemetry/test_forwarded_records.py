"""Issue 13 P1: what the Functions worker could forward to Application Insights carries no key
and no URL query.

The Python worker puts a handler on the root logger and sends every record that reaches it to
the host, which exports it — past our PII filter (that sits on our own handler). So the test
stands where the worker stands: in a fresh process configured as in Azure (a connection string
is set; nothing listens on its endpoint), a handler on the root logger at DEBUG records
everything, and a create and a list for one key go through the production client stack (httpx
over loopback, msal token provider) to the served sandbox.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.telemetry.test_bootstrap import AS_IN_AZURE, run_python

REPO = Path(__file__).resolve().parents[3]
KEY = "CRM-Leak-Probe-7731"

_PROBE = """
import asyncio, json, logging, os, re
from shared.telemetry import setup
assert setup.ensure_configured() is True and setup.mode() == "azure"

from local_host.partner import sandbox_partner
from shared.partner_api.odata import eq

KEY = {key!r}
QUERY = re.compile(r"\\?[^\\s'\\"]*=|[$%]24?filter", re.IGNORECASE)
# The sandbox serves from this process; in Azure it is Microsoft's service, not our worker.
STAND_IN = ("uvicorn", "partner_sandbox")


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(STAND_IN):
            self.records.append(record)


def said(record: logging.LogRecord) -> str:
    return " ".join([record.getMessage(), *(str(v) for v in record.__dict__.values())])


def leaks(records: list[logging.LogRecord]) -> list[str]:
    found = []
    for record in records:
        text = said(record)
        if KEY.lower() in text.lower() or QUERY.search(text):
            found.append(f"{{record.name}} {{record.levelname}}: {{record.getMessage()[:200]}}")
    return found


async def main() -> dict[str, object]:
    root = logging.getLogger()
    handler = Everything()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    with open({example!r}) as f:
        body = json.load(f)
    body["externalReferenceId"] = KEY
    async with sandbox_partner() as partner:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        api = partner.api
        created = await api.create_referral(
            body, correlation_id="corr-probe", deadline=deadline, retry_ambiguous=False
        )
        found = [
            r.id
            async for r in api.list_referrals(
                filter=eq("externalReferenceId", KEY).render(),
                correlation_id="corr-probe",
                deadline=deadline,
            )
        ]
        seen = list(handler.records)
        # The check can fail: with httpx at its default level the same list leaks its URL.
        logging.getLogger("httpx").setLevel(logging.NOTSET)
        handler.records.clear()
        async for _ in api.list_referrals(
            filter=eq("externalReferenceId", KEY).render(),
            correlation_id="corr-probe",
            deadline=deadline,
        ):
            pass
        control = leaks(handler.records)
    return {{
        "created": created.id,
        "found": found,
        "records": len(seen),
        "names": sorted({{r.name for r in seen}}),
        "leaks": leaks(seen),
        "control": control,
    }}


print(json.dumps(asyncio.run(main())))
os._exit(0)  # skip exporter shutdown: nothing listens on the fake endpoint
"""


def test_no_record_the_worker_could_forward_names_the_key_or_a_query() -> None:
    example = str(REPO / "tests" / "data" / "referral-example-request.json")
    out = run_python(_PROBE.format(key=KEY, example=example), **AS_IN_AZURE)
    facts = json.loads(out.strip().splitlines()[-1])
    assert facts["found"] == [facts["created"]]  # the create and the look-up really happened
    assert facts["leaks"] == []
    assert facts["control"], "the probe must see httpx's URL line when httpx is not quieted"
