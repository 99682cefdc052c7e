"""Partner Center Referral wire models (fact sheet §5). Attribute names are the wire names.

Postel's law, in two families:

* **Request side** (`ReferralRequest` and its parts) is what we POST: strict JSON types, closed
  enums, unknown fields rejected. Cross-field rules (status table, Shared needs a contact and a
  solution, ...) live in `validation.py` so that each problem gets its own JSON Pointer.
* **Response side** (`Referral` and its parts) is what we read: every field optional and
  nullable, enums as open strings, unknown fields kept and re-serialized untouched. Timestamps
  stay strings so the 7-digit wire precision survives a round trip.

Serialize either with `model_dump(mode="json", exclude_unset=True)`.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from shared.contracts.formats import check_country, check_currency, check_datetime, check_email

# ---- closed vocabularies (request side) -------------------------------------------------------

ReferralType = Literal["Independent", "Shared"]
ReferralStatus = Literal["None", "New", "Active", "Closed"]
ReferralSubstatus = Literal[
    "None", "Pending", "Received", "Accepted", "Won", "Lost", "Declined", "Expired"
]
Qualification = Literal["None", "Direct", "MarketingQualified", "SalesQualified"]
TargetType = Literal["None", "SolutionProfile", "BusinessProfileLocation"]
ProfileType = Literal["Duns", "External"]
SolutionType = Literal["None", "Category", "Name"]
AssistanceRequestCode = Literal[
    "Unknown",
    "GeneralOrOther",
    "CustomerTechnicalArchitecture",
    "ProofOfConceptOrDemo",
    "QuotesOrLicensing",
    "PostSalesCustomerSuccess",
    "WorkloadSpecificValueProposition",
]
CustomerSize = Literal[
    "1to9employees",
    "10to50employees",
    "51to250employees",
    "251to1000employees",
    "1001to5000employees",
    "5001to10000employees",
    "10001to20000employees",
    "Morethan20000employees",
    "1to50employees",
    "51to500employees",
    "Morethan500employees",
]

MICROSOFT_TARGET: Final = {"type": "BusinessProfileLocation", "id": "msft"}

# Fields Partner Center sets; a message that carries them is told so instead of "unknown field".
SERVER_FIELDS: Final = frozenset(
    {
        "id",
        "organizationId",
        "organizationName",
        "createdDateTime",
        "updatedDateTime",
        "acceptedDateTime",
        "closedDateTime",
        "expirationDateTime",
        "direction",
        "eTag",
        "links",
    }
)

Text = Annotated[StrictStr, Field(max_length=4000)]
Id = Annotated[StrictStr, Field(min_length=1, max_length=256)]
Guid = Annotated[
    StrictStr,
    Field(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
]
# The checks run in code; json_schema_extra only documents them in the published schema.
CountryCode = Annotated[
    StrictStr,
    AfterValidator(check_country),
    Field(json_schema_extra={"pattern": "^[A-Z]{2}$", "description": "ISO 3166-1 alpha-2"}),
]
CurrencyCode = Annotated[
    StrictStr,
    AfterValidator(check_currency),
    Field(json_schema_extra={"pattern": "^[A-Z]{3}$", "description": "ISO 4217"}),
]
WireDateTime = Annotated[
    StrictStr, AfterValidator(check_datetime), Field(json_schema_extra={"format": "date-time"})
]
Email = Annotated[
    StrictStr,
    Field(max_length=254, json_schema_extra={"format": "email"}),
    AfterValidator(check_email),
]
Money = Annotated[StrictInt | StrictFloat, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- request side ----------------------------------------------------------------------------


class ContactPreference(_Strict):
    locale: Annotated[StrictStr, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] | None = (
        None
    )
    disableNotifications: StrictBool | None = None


class Member(_Strict):
    """A person: one of the partner's sellers, or a customer contact."""

    firstName: Text | None = None
    lastName: Text | None = None
    email: Email | None = None
    phoneNumber: Annotated[StrictStr, Field(max_length=64)] | None = None
    title: Text | None = None
    contactPreference: ContactPreference | None = None


class Address(_Strict):
    addressLine1: Text | None = None
    addressLine2: Text | None = None
    city: Text | None = None
    state: Text | None = None
    postalCode: Annotated[StrictStr, Field(max_length=32)] | None = None
    country: CountryCode
    region: Text | None = None


class ProfileId(_Strict):
    profileType: ProfileType
    id: Id


class CustomerProfile(_Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    address: Address
    size: CustomerSize | None = None
    team: list[Member] | None = None
    ids: list[ProfileId] | None = None


class Consent(_Strict):
    # The doubled "To" is the real wire name. Never "fix" it.
    consentToToShareInfoWithOthers: StrictBool | None = None
    consentToContact: StrictBool | None = None
    consentToMicrosoftToContactSpecificPartners: StrictBool | None = None
    consentToShareReferralWithMicrosoftSellers: StrictBool | None = None


class TaxonomyRef(_Strict):
    """An id from Microsoft's yearly-changing vocabularies: an open string, never an enum."""

    id: Id


class Solution(BaseModel):
    # Solutions carry more descriptive fields than documented; keep them rather than refuse.
    model_config = ConfigDict(extra="allow", frozen=True)

    id: Id
    name: Text | None = None
    type: SolutionType | None = None


class Attribute(_Strict):
    type: Id
    id: Id


class AdditionalRequirements(_Strict):
    attributes: list[Attribute] | None = None
    iot: dict[str, Any] | None = None


class ReferralRequirements(_Strict):
    industries: list[TaxonomyRef] | None = None
    products: list[TaxonomyRef] | None = None
    services: list[TaxonomyRef] | None = None
    solutions: list[Solution] | None = None
    offers: list[dict[str, Any]] | None = None
    salesPlays: list[dict[str, Any]] | None = None
    additionalRequirements: AdditionalRequirements | None = None


class ReferralDetails(_Strict):
    notes: Text | None = None
    dealValue: Money | None = None
    currency: CurrencyCode | None = None
    closingDateTime: WireDateTime | None = None
    requirements: ReferralRequirements | None = None
    customerRequestedContact: StrictBool | None = None
    customerAction: Text | None = None
    incentiveLevel: Text | None = None


class InvitedBy(_Strict):
    organizationId: Id | None = None
    organizationName: Text | None = None


class InviteContext(_Strict):
    notes: Text | None = None
    invitedBy: InvitedBy | None = None
    assistanceRequestCode: AssistanceRequestCode | None = None
    invitedMpnId: Id | None = None


class ReferralTarget(_Strict):
    type: TargetType
    id: Id


class ReferralRequest(_Strict):
    """A referral as we POST it: the inbound message body, validated strictly."""

    name: Annotated[StrictStr, Field(min_length=1, max_length=256)] | None = None
    externalReferenceId: Id | None = None
    engagementId: Guid | None = None
    status: ReferralStatus | None = None
    substatus: ReferralSubstatus | None = None
    statusReason: Text | None = None
    qualification: Qualification | None = None
    type: ReferralType
    target: list[ReferralTarget] | None = None
    customerProfile: CustomerProfile
    consent: Consent
    details: ReferralDetails
    team: list[Member] | None = None
    inviteContext: InviteContext | None = None


# ---- response side ---------------------------------------------------------------------------


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TargetOut(_Open):
    type: str | None = None
    id: str | None = None


class MemberOut(_Open):
    firstName: str | None = None
    lastName: str | None = None
    email: str | None = None
    phoneNumber: str | None = None


class CustomerProfileOut(_Open):
    name: str | None = None
    address: dict[str, Any] | None = None
    size: str | None = None
    team: list[MemberOut] | None = None
    ids: list[dict[str, Any]] | None = None


class Referral(_Open):
    """A referral as Partner Center returns it. Tolerant: keeps whatever the service adds."""

    id: str | None = None
    engagementId: str | None = None
    organizationId: str | None = None
    organizationName: str | None = None
    name: str | None = None
    externalReferenceId: str | None = None
    createdDateTime: str | None = None
    updatedDateTime: str | None = None
    acceptedDateTime: str | None = None
    closedDateTime: str | None = None
    expirationDateTime: str | None = None
    status: str | None = None
    substatus: str | None = None
    statusReason: str | None = None
    qualification: str | None = None
    type: str | None = None
    direction: str | None = None
    eTag: str | None = None
    target: list[TargetOut] | None = None
    customerProfile: CustomerProfileOut | None = None
    consent: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    team: list[MemberOut] | None = None
    inviteContext: dict[str, Any] | None = None
    links: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        """The JSON object as received (unknown fields included), modulo key order."""
        return self.model_dump(mode="json", exclude_unset=True)

    def targets_microsoft(self) -> bool:
        """Whether this is the connected referral that addresses Microsoft."""
        return any(
            t.type == MICROSOFT_TARGET["type"] and t.id == MICROSOFT_TARGET["id"]
            for t in self.target or ()
        )
