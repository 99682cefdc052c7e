"""Partner Center Referral wire models (docs/partner-center-api.md). Attribute names are the wire
names.

**The request models are the one table of Microsoft's writable create properties.** Every field
names its source in `x-source` (see `SOURCES`), carries the description CRM teams map against,
and is typed where Microsoft types it; value lists Microsoft does not publish (sizes, sales
stages, solution areas and plays, partner roles) are open strings, because new values appear
every fiscal year. `docs/partner-center-api.md` and `schemas/referral-request.schema.json` are
generated from these models (`devtools/`), and tests fail when they drift.

Two families (Postel's law):

* **Request side** (`ReferralRequest` and its parts) is what we POST. What reaches pydantic has
  already been normalised by `intake.py` (keys to camelCase, `""`/null dropped, numeric strings
  to numbers, codes upper-cased), so the models themselves are strict: unknown fields forbidden,
  closed enums where Microsoft documents one. Cross-field rules live in `validation.py`.
* **Response side** (`Referral` and its parts) is what we read: every field optional and
  nullable, enums as open strings, unknown fields kept and re-serialized untouched. Timestamps
  stay strings so the 7-digit wire precision survives a round trip.
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
from pydantic.config import JsonDict

from shared.contracts.formats import (
    Normalise,
    check_country,
    check_currency,
    check_datetime,
    check_email,
)

# ---- sources ----------------------------------------------------------------------------------
# Short labels used in `x-source`; docs/partner-center-api.md spells out each reference.
SWAGGER: Final = "swagger"  # PowerPlatformConnectors certified-connectors/PartnerCenterReferrals
DOCS_2019: Final = "docs-2019"  # MicrosoftDocs/partner-rest create-a-referral, referral-resources
DOCS_2024: Final = "docs-2024"  # learn.microsoft.com create-a-referral (2024 example, FY26 table)
RESOURCES_2024: Final = "resources-2024"  # learn.microsoft.com referral-resources (2024)
WIRE: Final = "wire"  # real responses and the team fact sheet (shared/partner-referrals-api.md)

SOURCES: Final[dict[str, str]] = {
    SWAGGER: "Power Platform connector definition, microsoft/PowerPlatformConnectors "
    "certified-connectors/PartnerCenterReferrals/apiDefinition.swagger.json "
    "(definition Microsoft.Partner.Service.PartnerReferrals.Contracts.V3.Referral)",
    DOCS_2019: "MicrosoftDocs/partner-rest partner-rest/develop/create-a-referral.md and "
    "referral-resources.md (2019)",
    DOCS_2024: "learn.microsoft.com/partner-center/developer/create-a-referral (2024: request "
    "table with the FY26 Services fields, 'Private referral with minimal information' example)",
    RESOURCES_2024: "learn.microsoft.com/partner-center/developer/referral-resources (2024)",
    WIRE: "real Partner Center responses collected in the team fact sheet "
    "(shared/partner-referrals-api.md §5)",
}


def _src(*sources: str, server_written: bool = False) -> JsonDict:
    """The `json_schema_extra` of one property: where Microsoft documents it."""
    extra: JsonDict = {"x-source": ", ".join(sources)}
    if server_written:
        # Documented in the 2019 create table, but Partner Center sets it: accepted on intake,
        # never copied when a read-back referral is projected onto a new create body.
        extra["x-server-written"] = True
    return extra


# ---- closed vocabularies (documented enums) -----------------------------------------------------

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

# Documented customer sizes (referral-resources 2019). Informational only: `size` is an open
# string, because the real service writes "" itself and the list has changed before.
CUSTOMER_SIZES: Final = (
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
)
SALES_STAGES: Final = ("Qualify", "Develop", "Propose", "Close")  # swagger enum; "100" seen live

MICROSOFT_TARGET: Final = {"type": "BusinessProfileLocation", "id": "msft"}

# Top-level fields Partner Center sets. Sources: the swagger's readOnly flags (registrations,
# offerId, quality, isSpam, direction, tags, acceptedDateTime, closedDateTime), server semantics in
# the swagger and docs (id, eTag, links, organization*, the timestamps, lastModifiedVia,
# lastRunId, registrationStatus, @odata.context), and keys seen only in real responses
# (createdVia, dealSensitivity). A create body carrying one is refused as "read_only_field" —
# except the three timestamps the 2019 create table lists, which are request fields too
# (accepted with a warning, never copied from a read-back; see `server_written`).
SERVER_FIELDS: Final = frozenset(
    {
        "id",
        "createdDateTime",
        "updatedDateTime",
        "expirationDateTime",
        "organizationId",
        "organizationName",
        "acceptedDateTime",
        "closedDateTime",
        "direction",
        "eTag",
        "links",
        "registrations",
        "registrationStatus",
        "offerId",
        "quality",
        "isSpam",
        "tags",
        "lastModifiedVia",
        "lastRunId",
        "createdVia",
        "dealSensitivity",
        "@odata.context",
    }
)
# The same, inside nested objects (keyed by the object's path, array indices dropped).
NESTED_SERVER_FIELDS: Final[dict[tuple[str, ...], frozenset[str]]] = {
    ("customerProfile",): frozenset({"isMatchingComplete"}),  # real responses (2022)
}

# ---- value types --------------------------------------------------------------------------------
# Markers (`Normalise.*`) tell intake.py how to canonicalise a value before pydantic sees it; the
# checks run in code, json_schema_extra only documents them in the published schema.

Text = StrictStr
Id = Annotated[StrictStr, Field(min_length=1)]
ExternalId = Annotated[StrictStr, Field(min_length=1, max_length=256)]  # our idempotency key
Guid = Annotated[
    StrictStr,
    Field(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
]
CountryCode = Annotated[
    StrictStr,
    Normalise.CODE,
    AfterValidator(check_country),
    Field(json_schema_extra={"pattern": "^[A-Z]{2}$"}),
]
CurrencyCode = Annotated[
    StrictStr,
    Normalise.CODE,
    AfterValidator(check_currency),
    Field(json_schema_extra={"pattern": "^[A-Z]{3}$"}),
]
WireDateTime = Annotated[
    StrictStr,
    Normalise.DATETIME,
    AfterValidator(check_datetime),
    Field(json_schema_extra={"format": "date-time"}),
]
Email = Annotated[
    StrictStr,
    Normalise.EMAIL,
    AfterValidator(check_email),
    Field(json_schema_extra={"format": "email"}),
]
Number = StrictInt | StrictFloat


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- request side -----------------------------------------------------------------------------


class ContactPreference(_Strict):
    locale: Text | None = Field(
        None,
        description="Locale of the person's e-mail notifications, e.g. 'en-us' (any .NET culture).",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    disableNotifications: StrictBool | None = Field(
        None,
        description="True to stop Partner Center e-mail notifications for this person.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )


class Member(_Strict):
    """A person: one of the partner's sellers, or a customer contact."""

    firstName: Text | None = Field(
        None, description="First name.", json_schema_extra=_src(SWAGGER, DOCS_2019)
    )
    lastName: Text | None = Field(
        None, description="Last name.", json_schema_extra=_src(SWAGGER, DOCS_2019)
    )
    email: Email | None = Field(
        None,
        description='E-mail address (any syntactically valid address; "" means not given).',
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    phoneNumber: Text | None = Field(
        None, description="Phone number, free text.", json_schema_extra=_src(SWAGGER, DOCS_2019)
    )
    title: Text | None = Field(None, description="Job title.", json_schema_extra=_src(WIRE))
    contactPreference: ContactPreference | None = Field(
        None,
        description="How Partner Center notifies this person.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )


class Address(_Strict):
    addressLine1: Text | None = Field(
        None, description="First address line.", json_schema_extra=_src(SWAGGER, DOCS_2019)
    )
    addressLine2: Text | None = Field(
        None, description="Second address line.", json_schema_extra=_src(SWAGGER, DOCS_2019)
    )
    city: Text | None = Field(None, description="City.", json_schema_extra=_src(SWAGGER, DOCS_2019))
    state: Text | None = Field(
        None, description="State or province.", json_schema_extra=_src(SWAGGER, DOCS_2019)
    )
    postalCode: Text | None = Field(
        None, description="Postal or ZIP code.", json_schema_extra=_src(SWAGGER, DOCS_2019)
    )
    country: CountryCode = Field(
        description="ISO 3166-1 alpha-2 country code (any case; 'XK' for Kosovo). Required.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    region: Text | None = Field(
        None, description="Region, free text.", json_schema_extra=_src(SWAGGER, DOCS_2019)
    )


class ProfileId(_Strict):
    """An external id of the customer. An entry without an id is a placeholder and is dropped."""

    profileType: ProfileType = Field(
        description="'Duns' (a Dun & Bradstreet number) or 'External' (your own customer id).",
        json_schema_extra=_src(DOCS_2019, WIRE),
    )
    id: Id = Field(description="The id's value.", json_schema_extra=_src(DOCS_2019, WIRE))


class CustomerProfile(_Strict):
    name: Annotated[StrictStr, Field(min_length=1)] = Field(
        description="The customer organisation's name. Required.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    address: Address = Field(
        description="The customer's address. Required.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    size: Text | None = Field(
        None,
        description="Number of employees, e.g. '10to50employees' (open: "
        + ", ".join(CUSTOMER_SIZES)
        + " are documented).",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    team: list[Member] | None = Field(
        None,
        description="The customer's contacts. A Shared (co-sell) referral needs at least one.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    ids: list[ProfileId] | None = Field(
        None,
        description="External ids of the customer (DUNS or your own).",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )


class Consent(_Strict):
    # The doubled "To" is the real wire name. Never "fix" it.
    consentToToShareInfoWithOthers: StrictBool | None = Field(
        None,
        description="Consent to share the customer's personal data with other organisations "
        "(the doubled 'To' is Microsoft's spelling).",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    consentToContact: StrictBool | None = Field(
        None,
        description="Consent for the receiving organisation to contact the customer.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    consentToMicrosoftToContactSpecificPartners: StrictBool | None = Field(
        None,
        description="Consent for Microsoft to contact specific partners about this customer.",
        json_schema_extra=_src(DOCS_2024, WIRE),
    )
    consentToShareReferralWithMicrosoftSellers: StrictBool | None = Field(
        None,
        description="False makes the referral a private deal (not shared with Microsoft sellers).",
        json_schema_extra=_src(SWAGGER, DOCS_2024),
    )


class TaxonomyRef(_Strict):
    """An id from Microsoft's yearly-changing vocabularies: an open string, never an enum."""

    id: Id = Field(
        description="The vocabulary id, e.g. 'Manufacturing'.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )


class Solution(BaseModel):
    # Solutions carry more descriptive fields than documented (publisherName, solutionType in the
    # 2024 example; price, quantity on the wire); keep them rather than refuse.
    model_config = ConfigDict(extra="allow", frozen=True)

    id: Id = Field(
        description="Solution id, e.g. 'SOL-15974-MQF' or a category id.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    name: Text | None = Field(
        None, description="Solution name.", json_schema_extra=_src(DOCS_2019, DOCS_2024)
    )
    type: SolutionType | None = Field(
        None,
        description="'Category' (a predefined name) or 'Name' (a catalogue solution).",
        json_schema_extra=_src(DOCS_2019, DOCS_2024),
    )


class Attribute(_Strict):
    type: Id = Field(
        description="Attribute kind, e.g. 'CustomerMarketplaceIntent', 'SolutionArea', "
        "'SolutionPlay', 'PartnerRole' (open).",
        json_schema_extra=_src(DOCS_2024),
    )
    id: Id = Field(
        description="Attribute value, e.g. 'HaveNotDecided' (open).",
        json_schema_extra=_src(DOCS_2024),
    )


class AdditionalRequirements(_Strict):
    attributes: list[Attribute] | None = Field(
        None,
        description="Typed attributes of the need (marketplace intent, FY26 Services fields).",
        json_schema_extra=_src(DOCS_2024),
    )
    iot: dict[str, Any] | None = Field(
        None, description="IoT details, free-form.", json_schema_extra=_src(DOCS_2024)
    )


class ReferralRequirements(_Strict):
    industries: list[TaxonomyRef] | None = Field(
        None, description="Industries of the customer.", json_schema_extra=_src(SWAGGER, DOCS_2019)
    )
    products: list[TaxonomyRef] | None = Field(
        None,
        description="Products the customer is interested in.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    services: list[TaxonomyRef] | None = Field(
        None,
        description="Services the customer needs.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    solutions: list[Solution] | None = Field(
        None,
        description="Solutions the customer is interested in. A Shared referral needs one.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    offers: list[dict[str, Any]] | None = Field(
        None, description="Offers, free-form objects.", json_schema_extra=_src(SWAGGER)
    )
    salesPlays: list[dict[str, Any]] | None = Field(
        None, description="Sales plays, free-form objects.", json_schema_extra=_src(WIRE)
    )
    additionalRequirements: AdditionalRequirements | None = Field(
        None,
        description="Attributes beyond the fixed vocabularies.",
        json_schema_extra=_src(DOCS_2024),
    )


class ReferralDetails(_Strict):
    notes: Text | None = Field(
        None,
        description="Notes for the receiving party.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    dealValue: Number | None = Field(
        None,
        description='Deal value (a number; a numeric string such as "10000" is converted).',
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    currency: CurrencyCode | None = Field(
        None,
        description="ISO 4217 currency of the deal value (any case).",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    closingDateTime: WireDateTime | None = Field(
        None,
        description="When the customer wants to close: ISO 8601; without an offset it is UTC.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    requirements: ReferralRequirements | None = Field(
        None,
        description="What the customer needs: industries, products, services, solutions.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    customerRequestedContact: StrictBool | None = Field(
        None,
        description="Whether the customer asked to be contacted.",
        json_schema_extra=_src(SWAGGER),
    )
    customerAction: Text | None = Field(
        None,
        description="What the customer did (marketplace leads).",
        json_schema_extra=_src(SWAGGER),
    )
    incentiveLevel: Text | None = Field(
        None, description="Incentive level, free text.", json_schema_extra=_src(WIRE)
    )


class InvitedBy(_Strict):
    organizationId: Text | None = Field(
        None,
        description="Id of the inviting organisation.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    organizationName: Text | None = Field(
        None,
        description="Name of the inviting organisation.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )


class InviteContext(_Strict):
    notes: Text | None = Field(
        None,
        description="Notes for the invited organisation.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    invitedBy: InvitedBy | None = Field(
        None, description="Who invites.", json_schema_extra=_src(SWAGGER, DOCS_2019)
    )
    assistanceRequestCode: AssistanceRequestCode | None = Field(
        None, description="What help is asked of Microsoft.", json_schema_extra=_src(SWAGGER)
    )
    invitedMpnId: Text | None = Field(
        None, description="MPN id of the invited partner.", json_schema_extra=_src(WIRE)
    )


class ReferralTarget(_Strict):
    type: TargetType = Field(
        description="'SolutionProfile' (a partner's solution) or 'BusinessProfileLocation' "
        "(id 'msft' addresses Microsoft).",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    id: Id = Field(
        description="The target's id, e.g. 'SOL-34104-EBB' or 'msft'.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )


class TrackingInfo(_Strict):
    microsoftMsxId: Text | None = Field(
        None,
        description="Opportunity id of this referral in Microsoft's CRM.",
        json_schema_extra=_src(SWAGGER),
    )


class ReferralRequest(_Strict):
    """A referral as we POST it: Microsoft's create body, after intake normalisation."""

    name: Text | None = Field(
        None,
        description="The referral's (deal's) name.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    externalReferenceId: ExternalId | None = Field(
        None,
        description="Your CRM id of the lead or opportunity; the relay's idempotency key "
        '("" or absent: the message\'s MessageId is used).',
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    engagementId: Guid | None = Field(
        None,
        description="Engagement (GUID) to join; set to create a connected referral.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    createdDateTime: WireDateTime | None = Field(
        None,
        description="Listed in the 2019 create table; Partner Center sets it.",
        json_schema_extra=_src(DOCS_2019, server_written=True),
    )
    updatedDateTime: WireDateTime | None = Field(
        None,
        description="Listed in the 2019 create table; Partner Center sets it.",
        json_schema_extra=_src(DOCS_2019, server_written=True),
    )
    expirationDateTime: WireDateTime | None = Field(
        None,
        description="Listed in the 2019 create table; Partner Center sets it.",
        json_schema_extra=_src(DOCS_2019, server_written=True),
    )
    status: ReferralStatus | None = Field(
        None,
        description="New, Active or Closed (with a substatus from the status table).",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    substatus: ReferralSubstatus | None = Field(
        None,
        description="Pending/Received (New), Accepted (Active), "
        "Won/Lost/Declined/Expired (Closed).",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    statusReason: Text | None = Field(
        None,
        description="Why the referral has its status, e.g. why it was lost.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    qualification: Qualification | None = Field(
        None,
        description="None, Direct, MarketingQualified or SalesQualified.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    type: ReferralType = Field(
        description="'Independent' (yours alone) or 'Shared' (co-sell). Required.",
        json_schema_extra=_src(SWAGGER, DOCS_2019, DOCS_2024),
    )
    target: list[ReferralTarget] | None = Field(
        None,
        description="Whom the referral addresses (your solution profile, or Microsoft).",
        json_schema_extra=_src(SWAGGER, DOCS_2024),
    )
    customerProfile: CustomerProfile = Field(
        description="The customer. Required.", json_schema_extra=_src(SWAGGER, DOCS_2019, DOCS_2024)
    )
    consent: Consent = Field(
        description="Consent flags. Required.",
        json_schema_extra=_src(SWAGGER, DOCS_2019, DOCS_2024),
    )
    details: ReferralDetails = Field(
        description="Notes, deal value, currency, closing date, requirements. Required.",
        json_schema_extra=_src(SWAGGER, DOCS_2019, DOCS_2024),
    )
    team: list[Member] | None = Field(
        None,
        description="Your sellers working on the referral.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    inviteContext: InviteContext | None = Field(
        None,
        description="Context for the invited organisation.",
        json_schema_extra=_src(SWAGGER, DOCS_2019),
    )
    campaignId: Text | None = Field(
        None, description="Marketing campaign id.", json_schema_extra=_src(SWAGGER)
    )
    salesStage: Text | None = Field(
        None,
        description="Sales stage (open: the swagger lists " + ", ".join(SALES_STAGES) + ").",
        json_schema_extra=_src(SWAGGER),
    )
    referralProgram: Text | None = Field(
        None, description="Referral program name.", json_schema_extra=_src(SWAGGER)
    )
    favorite: StrictBool | None = Field(
        None, description="Mark the referral as a favourite.", json_schema_extra=_src(SWAGGER)
    )
    mpnId: Text | None = Field(
        None,
        description="MPN (partner) id the referral belongs to.",
        json_schema_extra=_src(SWAGGER),
    )
    trackingInfo: TrackingInfo | None = Field(
        None, description="Tracking ids in Microsoft's systems.", json_schema_extra=_src(SWAGGER)
    )
    callToAction: Text | None = Field(
        None,
        description="Call to action of a marketplace lead (open).",
        json_schema_extra=_src(SWAGGER, RESOURCES_2024),
    )
    referralSource: Text | None = Field(
        None,
        description="Source of a marketplace lead (open).",
        json_schema_extra=_src(SWAGGER, RESOURCES_2024),
    )
    customerMarketplaceIntent: Text | None = Field(
        None,
        description="The customer's intent to transact on the Microsoft marketplace (open).",
        json_schema_extra=_src(RESOURCES_2024),
    )
    partnerRole: Text | None = Field(
        None,
        description="Partner role; required for Services co-sell referrals only (open; the JSON "
        "placement is undocumented: also accepted as an additionalRequirements attribute).",
        json_schema_extra=_src(DOCS_2024),
    )
    solutionArea: Text | None = Field(
        None,
        description="FY26 solution area of the need; required for Services co-sell referrals "
        "only (open; also accepted as an additionalRequirements attribute).",
        json_schema_extra=_src(DOCS_2024),
    )
    solutionPlay: Text | None = Field(
        None,
        description="FY26 solution play of the need; required for Services co-sell referrals "
        "only (open; also accepted as an additionalRequirements attribute).",
        json_schema_extra=_src(DOCS_2024),
    )


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
    ids: Any = None  # a list with placeholders ({"profileType": "Duns", "id": ""}), or {} in docs


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
