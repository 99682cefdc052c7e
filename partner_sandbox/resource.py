"""The Referral resource as Partner Center binds, stores and returns it.

Sources (each shape below names its own):
* [swagger] the Power Platform connector definition, `microsoft/PowerPlatformConnectors`
  `certified-connectors/PartnerCenterReferrals/apiDefinition.swagger.json` (2023-10), definition
  `Microsoft.Partner.Service.PartnerReferrals.Contracts.V3.Referral` (and its nested objects);
* [docs] MicrosoftDocs/partner-rest `referral-resources.md` (the enums: ReferralStatus,
  ReferralSubstatus, ReferralType, ReferralQualification, SolutionType, TargetType);
* [wire] real responses (2022, production and PPE) quoted in issue 12: the ~43 top-level keys,
  `createdVia`, `dealSensitivity`, `customerProfile.isMatchingComplete`, and the values the
  server writes itself.

Binding follows ASP.NET Web API with Json.NET (the swagger's `Swashbuckle.OData` and
`Contracts.V3` type names): member names match case-insensitively; unknown members are ignored;
a string "true"/"false" binds to a boolean, a numeric string to a number, a number to a string;
enum values match case-insensitively and are stored in their declared spelling. What cannot bind
(an object where a string belongs, "abc" for a number, 1e400) is a 400 (Web API's invalid
ModelState).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from partner_sandbox.problems import Problem, pointer

# ---- shapes --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scalar:
    kind: str  # "string", "boolean" or "number"
    values: tuple[str, ...] = ()  # a C# enum's names (matched case-insensitively)


@dataclass(frozen=True, slots=True)
class Obj:
    members: Mapping[str, Shape]
    by_lower: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_lower", {name.lower(): name for name in self.members})


@dataclass(frozen=True, slots=True)
class Arr:
    item: Shape


@dataclass(frozen=True, slots=True)
class Open:
    """Any JSON, kept verbatim (the swagger declares no type: `"items": {}`, or [wire] only)."""


Shape = Scalar | Obj | Arr | Open

STRING: Final = Scalar("string")
BOOLEAN: Final = Scalar("boolean")
NUMBER: Final = Scalar("number")
OPEN: Final = Open()

# [docs] referral-resources.md enums.
REFERRAL_STATUS: Final = ("None", "New", "Active", "Closed")
REFERRAL_SUBSTATUS: Final = (
    "None",
    "Pending",
    "Received",
    "Accepted",
    "Won",
    "Lost",
    "Declined",
    "Expired",
)
REFERRAL_TYPE: Final = ("Independent", "Shared")
QUALIFICATION: Final = ("None", "Direct", "MarketingQualified", "SalesQualified")
SOLUTION_TYPE: Final = ("None", "Category", "Name")
TARGET_TYPE: Final = ("None", "BusinessProfileLocation", "SolutionProfile")
# [swagger] inviteContext.assistanceRequestCode enum.
ASSISTANCE_REQUEST_CODE: Final = (
    "Unknown",
    "GeneralOrOther",
    "CustomerTechnicalArchitecture",
    "ProofOfConceptOrDemo",
    "QuotesOrLicensing",
    "PostSalesCustomerSuccess",
    "WorkloadSpecificValueProposition",
)

# [swagger] the contact shape of `team` and `customerProfile.team`.
MEMBER: Final = Obj(
    {
        "firstName": STRING,
        "lastName": STRING,
        "email": STRING,
        "phoneNumber": STRING,
        "title": STRING,  # [docs] fact sheet Member; not in the swagger
        "contactPreference": Obj({"locale": STRING, "disableNotifications": BOOLEAN}),
    }
)
ADDRESS: Final = Obj(  # [swagger] customerProfile.address
    {
        "addressLine1": STRING,
        "addressLine2": STRING,
        "city": STRING,
        "state": STRING,
        "postalCode": STRING,
        "country": STRING,
        "region": STRING,
    }
)
TAG: Final = Obj({"id": STRING})  # [swagger] industries/products/services items
# [swagger] "solutions": {"items": {}}; [docs] SolutionTag id/name/type (SolutionType enum).
SOLUTION: Final = Obj({"id": STRING, "name": STRING, "type": Scalar("string", SOLUTION_TYPE)})
MARKETPLACE: Final = Obj(
    {"isMarketplaceTransacted": BOOLEAN, "marketplaceTransactionDateTime": STRING}
)
SOLUTION_DETAIL: Final = Obj(  # [swagger] registrations[].solutionDetails[] (+ DealRegistration)
    {
        "id": STRING,
        "name": STRING,
        "value": NUMBER,
        "currency": STRING,
        "isDeployedOnAzure": BOOLEAN,
        "primaryDeploymentOn": STRING,
        "pricingModel": STRING,
        "marketplaceTransactionDetails": MARKETPLACE,
    }
)
CONTRACT: Final = Obj(  # [swagger] registrations[].contract
    {
        "value": NUMBER,
        "currency": STRING,
        "startDateTime": STRING,
        "endDateTime": STRING,
        "signDateTime": STRING,
        "term": STRING,
    }
)
STATUS_HISTORY: Final = Obj(
    {
        name: STRING
        for name in (
            "reviewPendingDateTime",
            "actionRequiredDateTime",
            "passedDateTime",
            "failedDateTime",
            "approvedDateTime",
            "resubmissionDateTime",
        )
    }
)
REGISTRATION: Final = Obj(  # [swagger] Referral.registrations items, DealRegistration value
    {
        "id": STRING,
        "type": STRING,
        "registrationDateTime": STRING,
        "contract": CONTRACT,
        "solutionDetails": Arr(SOLUTION_DETAIL),
        "statusHistory": STATUS_HISTORY,
    }
)

REFERRAL: Final = Obj(
    {
        # [swagger] Contracts.V3.Referral properties
        "id": STRING,
        "engagementId": STRING,
        "organizationId": STRING,
        "organizationName": STRING,
        "name": STRING,
        "externalReferenceId": STRING,
        "createdDateTime": STRING,
        "updatedDateTime": STRING,
        "expirationDateTime": STRING,
        "acceptedDateTime": STRING,
        "closedDateTime": STRING,
        "status": Scalar("string", REFERRAL_STATUS),
        "substatus": Scalar("string", REFERRAL_SUBSTATUS),
        "statusReason": STRING,
        "type": Scalar("string", REFERRAL_TYPE),
        "qualification": Scalar("string", QUALIFICATION),
        "campaignId": STRING,
        # [swagger] enum Qualify/Develop/Propose/Close, but [wire] responses carry "100": the
        # service's type is a string, so no enum check.
        "salesStage": STRING,
        "referralProgram": STRING,
        "favorite": BOOLEAN,
        "mpnId": STRING,
        "callToAction": STRING,
        "referralSource": STRING,
        "registrationStatus": STRING,
        "quality": STRING,
        "isSpam": BOOLEAN,
        "direction": STRING,
        "tags": Arr(OPEN),
        "lastModifiedVia": STRING,
        "lastRunId": STRING,
        "eTag": STRING,
        "customerProfile": Obj(
            {
                "name": STRING,
                "address": ADDRESS,
                "size": STRING,  # open: the size list changes ([docs] "Customer Size")
                "team": Arr(MEMBER),
                # [swagger] "items": {}; [wire] [{"profileType": "Duns", "id": ""}]
                "ids": Arr(Obj({"profileType": STRING, "id": STRING})),
                "isMatchingComplete": BOOLEAN,  # [wire] server-written
            }
        ),
        "consent": Obj(
            {
                "consentToToShareInfoWithOthers": BOOLEAN,  # the doubled "To" is the wire name
                "consentToContact": BOOLEAN,
                "consentToMicrosoftToContactSpecificPartners": BOOLEAN,  # [docs] 2019 examples
                "consentToShareReferralWithMicrosoftSellers": BOOLEAN,
            }
        ),
        "details": Obj(
            {
                "notes": STRING,
                "dealValue": NUMBER,
                "currency": STRING,
                "closingDateTime": STRING,
                "customerRequestedContact": BOOLEAN,
                "customerAction": STRING,
                "incentiveLevel": STRING,  # [docs] fact sheet ReferralDetails
                "requirements": Obj(
                    {
                        "industries": Arr(TAG),
                        "products": Arr(TAG),
                        "services": Arr(TAG),
                        "solutions": Arr(SOLUTION),
                        "offers": Arr(OPEN),
                        "salesPlays": Arr(OPEN),  # [docs] fact sheet
                        "additionalRequirements": OPEN,  # [docs] fact sheet, open vocabulary
                    }
                ),
            }
        ),
        "team": Arr(MEMBER),
        "inviteContext": Obj(
            {
                "notes": STRING,
                "invitedBy": Obj({"organizationId": STRING, "organizationName": STRING}),
                "assistanceRequestCode": Scalar("string", ASSISTANCE_REQUEST_CODE),
                "invitedMpnId": STRING,  # [docs] fact sheet
            }
        ),
        "target": Arr(Obj({"type": Scalar("string", TARGET_TYPE), "id": STRING})),
        "trackingInfo": Obj({"microsoftMsxId": STRING}),
        "registrations": Arr(REGISTRATION),
        "links": Obj(
            {
                "relatedReferrals": Obj({"uri": STRING, "method": STRING}),
                "self": Obj({"uri": STRING, "method": STRING}),
            }
        ),
        # [wire] in real responses, not in the swagger; their types are unknown.
        "createdVia": OPEN,
        "dealSensitivity": OPEN,
    }
)

TOP_LEVEL_KEYS: Final = frozenset(REFERRAL.members)

# What the server sets whatever a create sends ([swagger] readOnly, plus the server-assigned
# identity, timestamps and links of [docs] create-a-referral's response).
SERVER_SET: Final = frozenset(
    {
        "id",
        "organizationId",
        "organizationName",
        "createdDateTime",
        "updatedDateTime",
        "acceptedDateTime",
        "closedDateTime",
        "direction",
        "eTag",
        "links",
        "isSpam",
        "quality",
        "tags",
        "registrations",
        "lastModifiedVia",
        "lastRunId",
        "createdVia",
        "dealSensitivity",
    }
)

MICROSOFT_TARGET: Final = {"type": "BusinessProfileLocation", "id": "msft"}  # [docs] co-sell
DUNS_PLACEHOLDER: Final = {"profileType": "Duns", "id": ""}  # [wire]


# ---- binding -------------------------------------------------------------------------------


def bind(value: Any, shape: Shape, problems: list[Problem], path: str = "") -> Any:
    """`value` bound to `shape` as Web API would: canonical member names, unknown members
    dropped, Json.NET's conversions. Appends to `problems` what cannot bind."""
    if value is None:
        return None
    if isinstance(shape, Open):
        return copy.deepcopy(value)
    if isinstance(shape, Obj):
        if not isinstance(value, dict):
            problems.append(Problem(path, "invalid_type", "must be an object"))
            return None
        bound: dict[str, Any] = {}
        for key, item in value.items():
            name = shape.by_lower.get(str(key).lower())
            if name is not None:  # a later spelling of the same member wins, as in Json.NET
                bound[name] = bind(item, shape.members[name], problems, path + pointer(name))
        return bound
    if isinstance(shape, Arr):
        if not isinstance(value, list):
            problems.append(Problem(path, "invalid_type", "must be an array"))
            return None
        return [bind(item, shape.item, problems, f"{path}/{i}") for i, item in enumerate(value)]
    return _scalar(value, shape, problems, path)


def _scalar(value: Any, shape: Scalar, problems: list[Problem], path: str) -> Any:
    if isinstance(value, dict | list):
        problems.append(Problem(path, "invalid_type", f"must be a {shape.kind}"))
        return None
    if shape.kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if isinstance(value, int):
            return value != 0
        problems.append(Problem(path, "invalid_type", "must be true or false"))
        return None
    if shape.kind == "number":
        number: Any = value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                problems.append(Problem(path, "invalid_type", "must be a number"))
                return None
            if number.is_integer() and "." not in value and "e" not in value.lower():
                number = int(number)
        if isinstance(number, bool) or not isinstance(number, int | float):
            problems.append(Problem(path, "invalid_type", "must be a number"))
            return None
        if isinstance(number, float) and not math.isfinite(number):
            problems.append(Problem(path, "invalid_number", "must be a finite number"))
            return None
        return number
    # string
    if isinstance(value, bool):
        text = "True" if value else "False"  # Json.NET writes .NET's Boolean.ToString()
    elif isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        text = value
    if shape.values:
        for name in shape.values:
            if name.lower() == text.lower():
                return name
        problems.append(Problem(path, "invalid_value", "is not one of the documented values"))
        return None
    return text


# ---- the full resource ---------------------------------------------------------------------


def complete(value: Any, shape: Shape) -> Any:
    """Every declared member of every object present, `null` where nothing was given (the
    service serializes its whole contract; a client must cope with the nulls)."""
    if isinstance(shape, Obj) and isinstance(value, dict):
        return {name: complete(value.get(name), member) for name, member in shape.members.items()}
    if isinstance(shape, Arr) and isinstance(value, list):
        return [complete(item, shape.item) for item in value]
    return value


def normalise(referral: dict[str, Any], *, duns_placeholder: bool = True) -> dict[str, Any]:
    """The values the server writes itself, as seen in real responses [wire]. Without a
    `duns_placeholder`, an empty `ids` stays `[]` (as the 2019 documented responses show)."""
    referral = complete(referral, REFERRAL)
    if referral["externalReferenceId"] is None:
        referral["externalReferenceId"] = ""
    if referral["isSpam"] is None:
        referral["isSpam"] = False
    if referral["registrations"] is None:
        referral["registrations"] = []
    profile = referral["customerProfile"]
    if isinstance(profile, dict):
        if profile["size"] is None:
            profile["size"] = ""
        if profile["ids"] is None:
            profile["ids"] = []
        if duns_placeholder and not profile["ids"]:  # once matching ran (pessimistic: always)
            profile["ids"] = [dict(DUNS_PLACEHOLDER)]
        profile["isMatchingComplete"] = True
    return referral


def shape_at(segments: list[str]) -> Shape | None:
    """The shape a JSON Pointer (already split, canonical names) points at in a referral."""
    shape: Shape = REFERRAL
    for segment in segments:
        if isinstance(shape, Obj):
            member = shape.members.get(segment)
            if member is None:
                return None
            shape = member
        elif isinstance(shape, Arr):
            if segment != "-" and not segment.isdigit():
                return None
            shape = shape.item
        else:
            return None
    return shape


def canonical_segments(segments: list[str]) -> list[str]:
    """Pointer segments with member names in their declared spelling (matched ignoring case)."""
    shape: Shape | None = REFERRAL
    out: list[str] = []
    for segment in segments:
        if isinstance(shape, Obj):
            name = shape.by_lower.get(segment.lower(), segment)
            out.append(name)
            shape = shape.members.get(name)
        elif isinstance(shape, Arr):
            out.append(segment)
            shape = shape.item
        else:
            out.append(segment)
            shape = None
    return out


def targets_microsoft(referral: Mapping[str, Any]) -> bool:
    targets = referral.get("target")
    return isinstance(targets, list) and any(
        isinstance(t, dict)
        and t.get("type") == MICROSOFT_TARGET["type"]
        and str(t.get("id", "")).lower() == MICROSOFT_TARGET["id"]
        for t in targets
    )
