"""Issue 15 item 5: the C# kit builds with `dotnet` (when the machine has it), the Logic Apps
workflows have the shape Logic Apps runs, and no kit uses a connection string or key."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from shared import names

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CSHARP = EXAMPLES / "csharp"
LOGIC_APPS = EXAMPLES / "logic-apps"
OPPORTUNITY: dict[str, Any] = json.loads((EXAMPLES / "crm-opportunity.json").read_text())
SCHEMA = json.loads((ROOT / "schemas" / "referral-request.schema.json").read_text())
WORKFLOW_SCHEMA = (
    "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/"
    "workflowdefinition.json#"
)


def test_no_kit_uses_a_connection_string_or_key() -> None:
    sources = [p for p in EXAMPLES.rglob("*") if p.is_file() and p.suffix != ".md"]
    assert len(sources) >= 10
    for path in sources:
        text = path.read_text()
        for forbidden in ("SharedAccessKey", "from_connection_string", "connectionString"):
            assert forbidden not in text, f"{path.relative_to(ROOT)} uses {forbidden}"


def test_the_csharp_kit_uses_the_sdks_and_the_deployed_names() -> None:
    project = (CSHARP / "ReferralRelayKit.csproj").read_text()
    assert 'Include="Azure.Messaging.ServiceBus"' in project
    assert 'Include="Azure.Identity"' in project
    relay = (CSHARP / "Relay.cs").read_text()
    assert f'Queue = "{names.REQUESTS_QUEUE}"' in relay
    assert f'Topic = "{names.EVENTS_TOPIC}"' in relay
    assert f'Subscription = "{names.OUTCOMES_SUBSCRIPTION}"' in relay
    assert 'MessageId = referral["externalReferenceId"]' in relay
    assert "new DefaultAzureCredential()" in (CSHARP / "Program.cs").read_text()


def test_the_csharp_kit_builds_and_sends_a_valid_message(tmp_path: Path) -> None:
    dotnet = shutil.which("dotnet")
    if dotnet is None:
        pytest.skip("dotnet is not installed on this machine: the C# kit is not built here")
    out = tmp_path / "out"
    build = subprocess.run(  # noqa: S603 - the machine's dotnet on our own project
        [dotnet, "build", str(CSHARP), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    sample = subprocess.run(  # noqa: S603
        [
            dotnet,
            str(out / "ReferralRelayKit.dll"),
            "print-sample",
            str(EXAMPLES / "crm-opportunity.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sample.returncode == 0, sample.stderr
    printed = json.loads(sample.stdout)
    Draft202012Validator(SCHEMA).validate(printed["body"])
    assert printed["messageId"] == printed["body"]["externalReferenceId"] == OPPORTUNITY["id"]
    assert printed["contentType"] == "application/json"


# --- Logic Apps (Consumption; the same definition language Power Automate uses) -----------------


def _workflow(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((LOGIC_APPS / name).read_text())
    definition = document["definition"]
    assert definition["$schema"] == WORKFLOW_SCHEMA
    assert len(definition["triggers"]) == 1
    for action in definition["actions"].values():
        for after in action.get("runAfter", {}):
            assert after in definition["actions"], f"runAfter names no action: {after}"
    connection = document["parameters"]["$connections"]["value"]["servicebus"]
    assert connection["connectionProperties"]["authentication"]["type"] == "ManagedServiceIdentity"
    return definition


_PATH_EXPRESSION = re.compile(r"triggerBody\(\)((?:\?\['\w+'\])+)")


def _evaluate(value: Any, trigger_body: dict[str, Any]) -> Any:
    """Just the expressions the Compose action uses: `@triggerBody()?['a']?['b']` and
    `@{…}` interpolations of those."""

    def lookup(path: str) -> Any:
        node: Any = trigger_body
        for key in re.findall(r"'(\w+)'", path):
            node = node.get(key) if isinstance(node, dict) else None
        return node

    if isinstance(value, dict):
        return {k: _evaluate(v, trigger_body) for k, v in value.items()}
    if isinstance(value, list):
        return [_evaluate(v, trigger_body) for v in value]
    if isinstance(value, str) and value.startswith("@{"):
        return re.sub(r"@\{" + _PATH_EXPRESSION.pattern + r"\}", lambda m: str(lookup(m[1])), value)
    if isinstance(value, str) and value.startswith("@"):
        match = _PATH_EXPRESSION.fullmatch(value[1:])
        assert match, f"an expression this test cannot evaluate: {value}"
        return lookup(match[1])
    return value


def test_the_publishing_workflow_sends_a_valid_private_deal_keyed_by_the_crm_id() -> None:
    definition = _workflow("publish-referral.json")
    referral = _evaluate(definition["actions"]["Compose_referral"]["inputs"], OPPORTUNITY)
    Draft202012Validator(SCHEMA).validate(referral)
    assert referral["externalReferenceId"] == OPPORTUNITY["id"]
    assert referral["type"] == "Independent"
    assert referral["consent"]["consentToShareReferralWithMicrosoftSellers"] is False

    send = definition["actions"]["Send_referral_to_the_relay"]["inputs"]
    assert send["method"] == "post"
    assert f"'{names.REQUESTS_QUEUE}'" in send["path"]
    assert send["body"]["ContentData"] == "@{base64(string(outputs('Compose_referral')))}"
    assert send["body"]["ContentType"] == "application/json"
    assert _evaluate(send["body"]["MessageId"], OPPORTUNITY) == OPPORTUNITY["id"]


def test_the_outcome_workflow_writes_back_then_completes_or_abandons() -> None:
    definition = _workflow("write-back-outcomes.json")
    [trigger] = definition["triggers"].values()
    for path in (trigger["inputs"]["path"],):
        assert f"'{names.EVENTS_TOPIC}'" in path
        assert f"'{names.OUTCOMES_SUBSCRIPTION}'" in path
        assert path.endswith("/peek")  # peek-lock: nothing is lost if the write-back fails
    actions = definition["actions"]
    write_back = actions["Write_back_to_the_CRM"]
    assert write_back["inputs"]["authentication"]["type"] == "ManagedServiceIdentity"
    body = json.dumps(write_back["inputs"]["body"])
    for field in ("referralId", "engagementId", "connectedReferralId"):
        assert f"['data']?['{field}']" in body
    complete, abandon = actions["Complete_the_outcome"], actions["Abandon_it_to_retry_later"]
    assert complete["runAfter"] == {"Write_back_to_the_CRM": ["Succeeded"]}
    assert set(abandon["runAfter"]["Write_back_to_the_CRM"]) == {"Failed", "TimedOut"}
    for settle, verb in ((complete, "complete"), (abandon, "abandon")):
        assert settle["inputs"]["path"].endswith(f"/messages/{verb}")
        assert settle["inputs"]["queries"]["lockToken"] == "@triggerBody()?['LockToken']"
