"""Publish a CRM opportunity to Referral Relay as a Partner Center referral (Python kit).

    python publisher.py --namespace sb-relay-prod.servicebus.windows.net ../crm-opportunity.json

What a CRM integration does: map the opportunity to the create-referral JSON, and send it to the
`referral-requests` queue with MessageId = the CRM id. The relay makes exactly one referral per
CRM id however often the message is sent, so a publisher may simply resend after any doubt.
Signs in with DefaultAzureCredential (managed identity in Azure, `az login` on a workstation): the
identity needs *Azure Service Bus Data Sender* on the queue. No connection strings, no keys.

Requires: azure-servicebus, azure-identity.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any, Protocol

from azure.servicebus import ServiceBusMessage

QUEUE = "referral-requests"


def referral_from_opportunity(opportunity: dict[str, Any]) -> dict[str, Any]:
    """Map one CRM opportunity to the Partner Center create-referral body. Adapt to your CRM.

    Private deal by default (not shared with Microsoft); with `shareWithMicrosoft` and a
    `solutionId` it becomes a co-sell request, which needs a customer contact.
    """
    account = opportunity["account"]
    contact = opportunity.get("contact")
    share = bool(opportunity.get("shareWithMicrosoft"))
    referral: dict[str, Any] = {
        "externalReferenceId": opportunity["id"],  # the idempotency key: the CRM id
        "name": opportunity["title"],
        "type": "Shared" if share else "Independent",
        "customerProfile": {
            "name": account["name"],
            "address": {"city": account.get("city"), "country": account["countryCode"]},
        },
        "consent": {
            "consentToToShareInfoWithOthers": share,  # the API's spelling, two "To"s
            "consentToContact": contact is not None,
            "consentToShareReferralWithMicrosoftSellers": share,
        },
        "details": {
            "dealValue": opportunity.get("amount", 0),
            "currency": opportunity.get("currency", "USD"),
        },
    }
    if contact:
        referral["customerProfile"]["team"] = [
            {
                k: contact[k]
                for k in ("firstName", "lastName", "email", "phoneNumber")
                if k in contact
            }
        ]
    if opportunity.get("closeDate"):
        referral["details"]["closingDateTime"] = f"{opportunity['closeDate']}T00:00:00Z"
    if opportunity.get("notes"):
        referral["details"]["notes"] = opportunity["notes"]
    if share and opportunity.get("solutionId"):
        solution = {"id": opportunity["solutionId"]}
        referral["target"] = [{"type": "SolutionProfile", "id": opportunity["solutionId"]}]
        referral["details"]["requirements"] = {"solutions": [solution]}
    return referral


class Sender(Protocol):
    """What this kit needs of azure.servicebus.ServiceBusSender."""

    def send_messages(self, message: ServiceBusMessage) -> None: ...


def referral_message(referral: dict[str, Any], *, source: str = "crm") -> ServiceBusMessage:
    crm_id = referral["externalReferenceId"]
    return ServiceBusMessage(
        json.dumps(referral).encode("utf-8"),
        message_id=crm_id,  # duplicate detection on the queue + the relay's ledger key
        correlation_id=str(uuid.uuid4()),  # ties the trace in Application Insights together
        content_type="application/json",
        application_properties={"source": source},
    )


def send_referral(sender: Sender, referral: dict[str, Any]) -> str:
    """Send one referral; returns its MessageId (the CRM id)."""
    message = referral_message(referral)
    sender.send_messages(message)
    return str(message.message_id)


def fully_qualified(namespace: str) -> str:
    return namespace if "." in namespace else f"{namespace}.servicebus.windows.net"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Send CRM opportunities as referrals.")
    parser.add_argument("--namespace", required=True, help="Service Bus namespace (name or host)")
    parser.add_argument("paths", nargs="+", metavar="OPPORTUNITY.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    from azure.identity import DefaultAzureCredential
    from azure.servicebus import ServiceBusClient

    args = build_parser().parse_args(argv)
    referrals = [referral_from_opportunity(json.loads(Path(p).read_text())) for p in args.paths]
    credential = DefaultAzureCredential()
    with (
        ServiceBusClient(fully_qualified(args.namespace), credential) as client,
        client.get_queue_sender(QUEUE) as sender,
    ):
        for referral in referrals:
            print(f"sent MessageId={send_referral(sender, referral)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
