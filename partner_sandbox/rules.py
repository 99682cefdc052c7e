"""What Partner Center refuses, each rule with its source. Everything else is accepted.

* Required objects on create: [docs] learn.microsoft.com `partner-center/developer/
  create-a-referral` (2024) marks ReferralType, CustomerProfile, Consent and Details "Required".
* The status table: [docs] `referral-resources.md` / `update-a-referral.md` "Status & Substatus
  transition states".
* PATCH: [docs] `patch-a-referral.md` (2020) "only supports the replace and add operations";
  [swagger] `Contracts.V3.UpdateReferralDetails` path enum and `Contracts.V3.DealRegistration`
  (`/registrations/-`). A path outside them is a 400 "only a subset of fields can be modified
  after creating a deal" (the wording the project's issue 12 reports; the real text is unknown).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from partner_sandbox.problems import Problem

REQUIRED_ON_CREATE: Final = ("type", "customerProfile", "consent", "details")

# status -> (statuses it may move to, substatuses allowed with it)
STATUS_TABLE: Final[Mapping[str, tuple[frozenset[str], frozenset[str]]]] = {
    "New": (frozenset({"New", "Active", "Closed"}), frozenset({"Pending", "Received"})),
    "Active": (frozenset({"Active", "Closed"}), frozenset({"Accepted"})),
    "Closed": (frozenset({"Closed"}), frozenset({"Won", "Lost", "Declined", "Expired"})),
}

PATCH_OPERATIONS: Final = frozenset({"add", "replace"})
PATCH_PATHS: Final = frozenset(
    {
        "/campaignId",
        "/consent/consentToShareReferralWithMicrosoftSellers",
        "/customerProfile/team",
        "/customerProfile/team/-",
        "/details/closingDateTime",
        "/details/currency",
        "/details/dealValue",
        "/details/notes",
        "/details/requirements/solutions",
        "/details/requirements/solutions/-",
        "/externalReferenceId",
        "/referralProgram",
        "/salesStage",
        "/status",
        "/substatus",
        "/statusReason",
        "/team",
        "/team/-",
        "/registrations/0/contract/startDateTime",
        "/registrations/0/contract/endDateTime",
        "/registrations/0/contract/signDateTime",
        "/registrations/0/contract/term",
        "/registrations/0/contract/value",
        "/registrations/0/solutionDetails/0/value",
        "/registrations/0/solutionDetails/0/currency",
        "/registrations/0/solutionDetails/0/isDeployedOnAzure",
        "/registrations/0/solutionDetails/0/primaryDeploymentOn",
        "/registrations/0/solutionDetails/0/pricingModel",
        "/registrations/0/solutionDetails/0/marketplaceTransactionDetails/isMarketplaceTransacted",
        "/registrations/0/solutionDetails/0/marketplaceTransactionDetails/marketplaceTransactionDateTime",
        "/registrations/-",  # DealRegistration
    }
)
NOT_MODIFIABLE: Final = "only a subset of fields can be modified after creating a deal"


def missing_required(referral: Mapping[str, Any]) -> list[Problem]:
    return [
        Problem(f"/{name}", "missing", "is required")
        for name in REQUIRED_ON_CREATE
        if referral.get(name) is None
    ]


def status_problems(old: str | None, status: Any, substatus: Any) -> list[Problem]:
    """The status table: `old` -> `status` allowed, `substatus` allowed with `status`. `old`
    None (a create) checks only the combination."""
    row = STATUS_TABLE.get(str(status))
    if row is None:
        return [Problem("/status", "invalid_status", "is not a status a referral can have")]
    if old is not None and status not in STATUS_TABLE.get(old, (frozenset(), frozenset()))[0]:
        return [Problem("/status", "invalid_transition", "this status change is not allowed")]
    if substatus not in row[1]:
        return [
            Problem("/substatus", "invalid_status_combination", "is not allowed with this status")
        ]
    return []
