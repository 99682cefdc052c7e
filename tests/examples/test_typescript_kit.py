"""Issue 15 item 5: the TypeScript kit compiles against the real SDK types (`tsc`), and its own
functions, run by node, publish to and read from the real functions on the local host.

`tests/examples/typescript/harness.ts` drives the kit with a fake sender and receiver that speak
JSON lines; this test carries those messages through the in-process broker, the functions and
the sandbox, and hands the outcome messages back, settling each as the kit decided.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from local_host.partner import PartnerConnection
from local_host.stack import LocalStack
from shared import names
from tests.examples.conftest import stored

ROOT = Path(__file__).resolve().parents[2]
TSC = ROOT / "node_modules" / ".bin" / "tsc"
KIT = ROOT / "examples" / "typescript"
HARNESS = ROOT / "tests" / "examples" / "typescript"
OPPORTUNITY: dict[str, Any] = json.loads((ROOT / "examples" / "crm-opportunity.json").read_text())
SCHEMA = json.loads((ROOT / "schemas" / "referral-request.schema.json").read_text())


def _run(*command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - node / tsc from the repo's node_modules, our own files
        list(command),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NODE_PATH": str(ROOT / "node_modules")},
    )


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert TSC.exists(), "node_modules is missing: `npm ci` (make test runs it)"
    out = tmp_path_factory.mktemp("ts")
    done = _run(str(TSC), "-p", str(HARNESS / "tsconfig.json"), "--outDir", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "tests" / "examples" / "typescript" / "harness.js"


def node(harness: Path, *args: str) -> list[dict[str, Any]]:
    node_binary = shutil.which("node")
    assert node_binary, "node is needed (make test needs it for Azurite too)"
    done = _run(node_binary, str(harness), *args, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_the_kit_compiles_on_its_own() -> None:
    """Its entry points (ServiceBusClient, DefaultAzureCredential) type-check against the SDKs."""
    done = _run(str(TSC), "-p", str(KIT / "tsconfig.json"), "--noEmit")
    assert done.returncode == 0, done.stdout + done.stderr


async def test_a_co_sell_request_round_trips_through_the_functions(
    compiled: Path, stack: LocalStack, partner: PartnerConnection, tmp_path: Path
) -> None:
    opportunity = copy.deepcopy(OPPORTUNITY)
    opportunity.update(shareWithMicrosoft=True, solutionId="SOL-34104-EBB")
    (tmp_path / "opportunity.json").write_text(json.dumps(opportunity))

    sent = node(compiled, "publish", str(tmp_path / "opportunity.json"))
    assert [(m["queue"], m["messageId"]) for m in sent] == [(names.REQUESTS_QUEUE, "OPP-0042")]
    for message in sent:
        body = json.loads(message["body"])
        Draft202012Validator(SCHEMA).validate(body)
        assert body["externalReferenceId"] == message["messageId"]
        assert message["contentType"] == "application/json"
        stack.publish(
            message["body"].encode(),
            message_id=message["messageId"],
            correlation_id=message["correlationId"],
            properties=message["applicationProperties"],
        )
    assert await stack.drain()
    ours, microsoft = sorted(stored(partner), key=lambda r: r.targets_microsoft())

    outcomes = stack.broker.entity(
        topic=names.EVENTS_TOPIC, subscription=names.OUTCOMES_SUBSCRIPTION
    )
    locked = []
    while (received := outcomes.receive()) is not None:
        locked.append(received)
    (tmp_path / "outcomes.json").write_text(
        json.dumps([{"body": m.body.decode(), "messageId": m.message_id} for m in locked])
    )
    lines = node(compiled, "consume", str(tmp_path / "outcomes.json"))
    by_id = {m.message_id: m for m in locked}
    for line in lines:
        if line.get("settled") == "complete":
            outcomes.complete(by_id[line["messageId"]])
        elif line.get("settled") == "abandon":
            outcomes.abandon(by_id[line["messageId"]])

    written = [line["writeBack"] for line in lines if "writeBack" in line]
    assert [(w["eventType"], w["crmId"]) for w in written] == [
        ("referral-created", "OPP-0042"),
        ("referral-connected", "OPP-0042"),
    ]
    assert {(w["referralId"], w["engagementId"]) for w in written} == {(ours.id, ours.engagementId)}
    assert written[1]["connectedReferralId"] == microsoft.id
    assert lines[-1] == {
        "topic": names.EVENTS_TOPIC,
        "subscription": names.OUTCOMES_SUBSCRIPTION,
        "completed": 2,
    }
    assert outcomes.pending_count() == 0
