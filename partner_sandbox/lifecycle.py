"""What Microsoft (or a partner's seller in the portal) does to referrals, as the admin API does it:
store a referral verbatim (one with real-world shapes), send us an incoming referral (from
Microsoft or another partner), and accept, decline, close or expire one. Each change moves the
eTag and `updatedDateTime` on and notifies the organisation's webhook registration.

[docs] the status table (`partner_sandbox.rules`); [docs] referral-resources: unanswered incoming
referrals expire (Closed/Expired); accepting sets `acceptedDateTime`; an incoming referral is
`direction: Incoming`, New/Pending, with `inviteContext.invitedBy` naming who sent it.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Final

from partner_sandbox.resource import REFERRAL as REFERRAL_SHAPE
from partner_sandbox.resource import complete, normalise
from partner_sandbox.rules import status_problems
from partner_sandbox.store import Referral, wire_time

if TYPE_CHECKING:
    from partner_sandbox.app import Sandbox

# action -> (status, default substatus, substatuses a caller may choose)
ACTIONS: Final = {
    "accept": ("Active", "Accepted", ("Accepted",)),
    "decline": ("Closed", "Declined", ("Declined",)),
    "close": ("Closed", "Won", ("Won", "Lost")),
    "expire": ("Closed", "Expired", ("Expired",)),
}


class LifecycleError(ValueError):
    pass


def store_verbatim(sandbox: Sandbox, referral: Any, org_id: str | None = None) -> Referral:
    """Keep `referral` exactly as given (no binding, no normalisation); only what the store
    needs is filled in when missing: `id`, `engagementId` (new GUIDs) and `eTag`."""
    if not isinstance(referral, dict):
        raise LifecycleError("the referral must be a JSON object")
    org = org_id or sandbox.config.default_organization.id
    if org not in {o.id for o in sandbox.config.organizations}:
        raise LifecycleError("no such organization")
    stored = copy.deepcopy(referral)
    for key in ("id", "engagementId"):
        value = stored.get(key)
        if value is not None and not isinstance(value, str):
            raise LifecycleError(f"{key} must be a string")
        stored[key] = (value or sandbox.store.new_id()).lower()
    if sandbox.store.get(org, stored["id"]) is not None:
        raise LifecycleError("a referral with this id exists")
    if not isinstance(stored.get("eTag"), str):
        stored["eTag"] = sandbox.store.next_etag(sandbox.clock())
    sandbox.store.add(org, stored)
    sandbox.referral_changed(org, stored, created=True, by_microsoft=True)
    return stored


# Who sends an incoming referral: Microsoft's co-sell, or another partner ([docs] inviteContext).
SENDERS: Final = {
    "microsoft": ("72f988bf-86f1-41af-91ab-2d7cd011db47", "Microsoft"),
    "partner": ("0e5b7f34-1d5c-4c58-9c4a-5a1f0f0d2c11", "Northwind Partner (sandbox)"),
}


def send_incoming(
    sandbox: Sandbox,
    *,
    org_id: str | None = None,
    sender: str = "microsoft",
    engagement_id: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Referral:
    """A referral someone else created for us: Incoming, New/Pending, the server's shape, with
    made-up business data only (no real customer)."""
    if sender not in SENDERS:
        raise LifecycleError(f"from must be one of {', '.join(SENDERS)}")
    if overrides is not None and not isinstance(overrides, dict):
        raise LifecycleError("referral must be a JSON object")
    org = next((o for o in sandbox.config.organizations if o.id == (org_id or o.id)), None)
    if org is None:
        raise LifecycleError("no such organization")
    if engagement_id is not None and not sandbox.store.has_engagement(
        org.id, engagement_id.lower()
    ):
        raise LifecycleError("no engagement with this id in the organization")
    sender_id, sender_name = SENDERS[sender]
    now = sandbox.clock()
    referral_id = sandbox.store.new_id()
    referral: Referral = {
        "name": "Incoming co-sell opportunity",
        "type": "Shared",
        "qualification": "SalesQualified",
        "customerProfile": {"name": "Fabrikam Sandbox Customer", "address": {"country": "US"}},
        "consent": {"consentToToShareInfoWithOthers": True, "consentToContact": True},
        "details": {"dealValue": 25000, "currency": "USD", "notes": "Sent by the sandbox."},
        "inviteContext": {
            "notes": "Please engage on this opportunity.",
            "invitedBy": {"organizationId": sender_id, "organizationName": sender_name},
        },
        **(copy.deepcopy(overrides) if overrides else {}),
    }
    referral.update(
        id=referral_id,
        engagementId=(engagement_id or sandbox.store.new_id()).lower(),
        organizationId=org.id,
        organizationName=org.name,
        direction="Incoming",
        status="New",
        substatus="Pending",
        createdDateTime=wire_time(now),
        updatedDateTime=wire_time(now),
        eTag=sandbox.store.next_etag(now),
    )
    stored = normalise(
        complete(referral, REFERRAL_SHAPE), duns_placeholder=sandbox.config.duns_placeholder
    )
    sandbox.store.add(org.id, stored)
    sandbox.referral_changed(org.id, stored, created=True, by_microsoft=True)
    return stored


def act(
    sandbox: Sandbox,
    referral_id: str,
    action: str,
    *,
    substatus: str | None = None,
    status_reason: str | None = None,
) -> Referral:
    """Change a referral as Microsoft would; the status table applies."""
    if action not in ACTIONS:
        raise LifecycleError(f"action must be one of {', '.join(ACTIONS)}")
    found = sandbox.store.find(referral_id.lower())
    if found is None:
        raise LifecycleError("no referral with this id")
    org_id, current = found
    status, default, allowed = ACTIONS[action]
    chosen = substatus or default
    if chosen not in allowed:
        raise LifecycleError(f"substatus for {action} must be one of {', '.join(allowed)}")
    problems = status_problems(str(current.get("status")), status, chosen)
    if problems:
        raise LifecycleError(f"{action}: {problems[0].message}")
    now = sandbox.clock()
    updated = copy.deepcopy(current)
    updated.update(status=status, substatus=chosen, updatedDateTime=wire_time(now))
    if status_reason is not None:
        updated["statusReason"] = status_reason
    if status == "Active":
        updated["acceptedDateTime"] = wire_time(now)
    if status == "Closed":
        updated["closedDateTime"] = wire_time(now)
    updated["eTag"] = sandbox.store.next_etag(now)
    sandbox.store.replace(org_id, updated)
    sandbox.referral_changed(org_id, updated, created=False, by_microsoft=True)
    return updated
