"""The update message on `referral-updates`: what changed in the CRM, for one existing referral.

It names the referral by `referralId` (from a `referral-created` event) or `externalReferenceId`
(the CRM's id; resolved through the ledger, else a look-up), and carries what changed in the
same wire names as a create body — only the members Microsoft lets a PATCH change (the
connector's path enum, `PATCH_PATHS` below) — plus `sourceUpdatedAt`, the CRM's modification
time (an update older than the last one applied to the referral is skipped as stale).

It is read exactly as a create body is (`intake.py`): member names in any case, `""`/null as not
given, numeric strings as numbers, codes upper-cased, timestamps without an offset as UTC; and
refused only for what can never be sent: names that are not Microsoft's (with a did-you-mean),
values of the wrong type, a status/substatus pair outside the status table, no referral named.

Accepting or declining an incoming referral is an update too: `status` Active / `substatus`
Accepted, or Closed / Declined with a `statusReason`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from shared.contracts.envelope import (
    InboundMessage,
    InvalidMessage,
    MessageMeta,
    decode_body,
    read_meta,
)
from shared.contracts.errors import ContractViolation, FieldError
from shared.contracts.formats import parse_instant
from shared.contracts.intake import normalise_as
from shared.contracts.referral import (
    SWAGGER,
    CurrencyCode,
    ExternalId,
    Id,
    Member,
    Number,
    ReferralStatus,
    ReferralSubstatus,
    Solution,
    Text,
    WireDateTime,
)
from shared.contracts.status_rules import allowed_substatuses, is_valid_combination
from shared.contracts.validation import field_errors

# [swagger] PowerPlatformConnectors PartnerCenterReferrals, `Contracts.V3.UpdateReferralDetails`
# path enum and `DealRegistration` (`/registrations/-`); [docs] patch-a-referral.md (2020): only
# `add` and `replace`. Numeric segments stand for any array index; `-` appends.
PATCH_PATHS: Final = frozenset(
    {
        "/campaignId",
        "/consent/consentToShareReferralWithMicrosoftSellers",
        "/customerProfile/team/-",
        "/details/closingDateTime",
        "/details/currency",
        "/details/dealValue",
        "/details/notes",
        "/details/requirements/solutions/-",
        "/referralProgram",
        "/salesStage",
        "/status",
        "/substatus",
        "/statusReason",
        "/team/-",
        "/registrations/-",
    }
)
PATCH_OPERATIONS: Final = frozenset({"add", "replace"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _swagger(description: str) -> Any:
    return Field(None, description=description, json_schema_extra={"x-source": SWAGGER})


class MarketplaceTransaction(_Strict):
    isMarketplaceTransacted: StrictBool | None = _swagger("Transacted on the marketplace.")
    marketplaceTransactionDateTime: WireDateTime | None = _swagger("When it was transacted.")


class RegistrationSolution(_Strict):
    id: Text | None = _swagger("Solution id the registration is for.")
    name: Text | None = _swagger("Solution name.")
    value: Number | None = _swagger("Value of the solution in the deal.")
    currency: CurrencyCode | None = _swagger("ISO 4217 currency of the value.")
    isDeployedOnAzure: StrictBool | None = _swagger("Deployed on Azure.")
    primaryDeploymentOn: Text | None = _swagger("Where it is primarily deployed.")
    pricingModel: Text | None = _swagger("Pricing model.")
    marketplaceTransactionDetails: MarketplaceTransaction | None = _swagger("Marketplace.")


class RegistrationContract(_Strict):
    value: Number | None = _swagger("Contract value.")
    currency: CurrencyCode | None = _swagger("ISO 4217 currency of the contract value.")
    startDateTime: WireDateTime | None = _swagger("Contract start.")
    endDateTime: WireDateTime | None = _swagger("Contract end.")
    signDateTime: WireDateTime | None = _swagger("When it was signed.")
    term: Text | None = _swagger("Contract term, e.g. '12 months'.")


class DealRegistration(_Strict):
    """A deal registration to add (`/registrations/-`); Partner Center sets its id and times."""

    type: Text | None = _swagger("Registration type, e.g. 'ISV' (open).")
    contract: RegistrationContract | None = _swagger("The contract.")
    solutionDetails: list[RegistrationSolution] | None = _swagger("The solutions registered.")


class UpdateConsent(_Strict):
    consentToShareReferralWithMicrosoftSellers: StrictBool | None = _swagger(
        "The one consent flag a PATCH may change: false makes it a private deal."
    )


class UpdateRequirements(_Strict):
    solutions: list[Solution] | None = _swagger("Solutions to add (by id).")


class UpdateDetails(_Strict):
    notes: Text | None = _swagger("Notes for the receiving party (replaced).")
    dealValue: Number | None = _swagger('Deal value (a numeric string such as "10000" is read).')
    currency: CurrencyCode | None = _swagger("ISO 4217 currency of the deal value.")
    closingDateTime: WireDateTime | None = _swagger("When the customer wants to close.")
    requirements: UpdateRequirements | None = _swagger("Solutions to add.")


class UpdateCustomerProfile(_Strict):
    team: list[Member] | None = _swagger("Customer contacts to add (matched by e-mail).")


class UpdateRequest(_Strict):
    """An update as it arrives on `referral-updates`, after intake normalisation."""

    referralId: Id | None = Field(
        None, description="The Partner Center referral id (from referral-created)."
    )
    externalReferenceId: ExternalId | None = Field(
        None,
        description="The CRM id the referral was created with: names the referral when "
        "referralId is not given (it is not changed).",
    )
    sourceUpdatedAt: WireDateTime | None = Field(
        None,
        description="When the CRM record changed: an update older than the last one applied "
        "to the referral is skipped as stale. Without it no update counts as stale.",
    )
    status: ReferralStatus | None = _swagger("New status (the status table applies).")
    substatus: ReferralSubstatus | None = _swagger("New substatus.")
    statusReason: Text | None = _swagger("Why, e.g. why it was lost or declined.")
    salesStage: Text | None = _swagger("Sales stage (open).")
    campaignId: Text | None = _swagger("Marketing campaign id.")
    referralProgram: Text | None = _swagger("Referral program name.")
    details: UpdateDetails | None = _swagger("Deal value, currency, closing date, notes.")
    consent: UpdateConsent | None = _swagger("Consent changes the connector allows.")
    team: list[Member] | None = _swagger("Sellers to add to the referral (matched by e-mail).")
    customerProfile: UpdateCustomerProfile | None = _swagger("Customer contacts to add.")
    registrations: list[DealRegistration] | None = _swagger("Deal registrations to add.")

    @property
    def reference(self) -> str:
        """What names the referral: its id, else the CRM's id."""
        return self.referralId or self.externalReferenceId or ""


@dataclass(frozen=True, slots=True)
class UpdateCommand:
    update: UpdateRequest
    body: dict[str, Any]  # the canonical message body
    meta: MessageMeta

    @property
    def reference(self) -> str:
        return self.update.reference

    @property
    def source_updated_at(self) -> str | None:
        """`sourceUpdatedAt` as a fixed-width UTC instant, so marks compare as strings."""
        return mark_value(self.update.sourceUpdatedAt)


def mark_value(timestamp: str | None) -> str | None:
    parsed = parse_instant(timestamp) if timestamp else None
    if parsed is None:
        return None
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_update(data: object) -> tuple[UpdateRequest, dict[str, Any]]:
    """Normalise and validate a decoded update body. Raises `ContractViolation` only."""
    if not isinstance(data, dict):
        raise ContractViolation([FieldError(path="", code="not_an_object", message=_ROOT_MSG)])
    normalised = normalise_as(data, UpdateRequest)
    body: dict[str, Any] = normalised.body if isinstance(normalised.body, dict) else {}
    problems = list(normalised.problems)
    try:
        update = UpdateRequest.model_validate(body)
    except ValidationError as exc:
        problems.extend(field_errors(body, exc.errors(include_url=False)))
        raise ContractViolation(problems) from None
    problems.extend(_rules(update))
    if problems:
        raise ContractViolation(problems)
    return update, body


def _rules(update: UpdateRequest) -> list[FieldError]:
    problems: list[FieldError] = []
    if not update.reference:
        problems.append(FieldError(path="", code="missing_reference", message=_NO_REFERENCE))
    if update.status is not None and not is_valid_combination(update.status, update.substatus):
        allowed = sorted(allowed_substatuses(update.status))
        problems.append(
            FieldError(
                path="/substatus" if update.substatus else "/status",
                code="invalid_status_combination",
                message=f"is not allowed with this status; allowed: {', '.join(allowed) or 'none'}",
            )
        )
    return problems


_ROOT_MSG: Final = "the message body must be a JSON object (an update)"
_NO_REFERENCE: Final = "name the referral: set referralId or externalReferenceId"


def parse_update(message: InboundMessage) -> UpdateCommand:
    """Decode and validate one update message. Raises `InvalidMessage` and nothing else."""
    meta = read_meta(message)
    data: object = None
    try:
        data = decode_body(message.get_body())
        update, body = check_update(data)
    except ContractViolation as violation:
        raise InvalidMessage(
            list(violation.errors), meta=meta, idempotency_key=_best_effort(data)
        ) from None
    return UpdateCommand(update=update, body=body, meta=meta)


def _best_effort(data: object) -> str:
    """The reference of a refused update, when one is readable (for the rejection's subject)."""
    if isinstance(data, dict):
        for name in ("referralid", "externalreferenceid"):
            for key, value in data.items():
                usable = isinstance(value, str) and 0 < len(value) <= 256
                if isinstance(key, str) and key.lower() == name and usable:
                    try:
                        value.encode("utf-8")
                    except UnicodeEncodeError:
                        continue
                    return str(value)
    return ""
