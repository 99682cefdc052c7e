"""What Microsoft (or a partner's seller in the portal) does to referrals, as the admin API does it:
store a referral verbatim (an incoming referral from Microsoft, or one with real-world shapes),
and accept, decline, close or expire one.

[docs] the status table (`partner_sandbox.rules`); [docs] referral-resources: unanswered incoming
referrals expire (Closed/Expired); accepting sets `acceptedDateTime`.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Final

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
    return updated
