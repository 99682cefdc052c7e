"""The JSON Patch an update makes of a referral as it is now, and the status table before it.

Pure functions. The patch is computed against the referral just read (with its eTag), so it
holds only what would change: the same update twice gives an empty patch the second time (no
call), and a 412 is answered by reading again and computing again.

* Only `add` and `replace`, and only on the connector's paths (`PATCH_PATHS`): scalars are
  replaced when they differ (added when the member is absent); team members, customer contacts
  and solutions are appended when no entry with the same e-mail (or id) is there; a deal
  registration is appended unless one already holds every value the update gives.
* Values compare as Partner Center reads them: numbers numerically ("10000" == 10000), codes in
  any case, timestamps as instants, flags from "true"/"false".
* The status table (`status_rules`, fact sheet §6) before the call: a Closed referral is frozen;
  the new status must be reachable from the current one; the substatus must go with it. A status
  change without a substatus takes the only one the new status allows (Active → Accepted), or
  keeps the current one when it still fits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from shared.contracts.errors import FieldError
from shared.contracts.formats import boolean_from_text, number_from_text, parse_instant
from shared.contracts.status_rules import (
    TERMINAL_STATUSES,
    allowed_substatuses,
    can_transition,
    is_valid_combination,
)
from shared.contracts.update import PATCH_PATHS, UpdateRequest

Operation = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Patch:
    operations: tuple[Operation, ...]
    problems: tuple[FieldError, ...] = ()  # the status table refuses it: nothing is sent
    status: str | None = None  # the status and substatus the referral has once it is applied
    substatus: str | None = None

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(op["path"] for op in self.operations))


def compute_patch(current: Mapping[str, Any], update: UpdateRequest) -> Patch:
    """The operations that make `current` (a referral's wire JSON) what `update` says."""
    status, substatus, pending = _target_status(current, update)
    operations = [*_status_operations(current, status, substatus, update), *_other(current, update)]
    for operation in operations:  # a bug here must never reach Partner Center
        if operation["path"] not in PATCH_PATHS:
            raise ValueError(f"not a PATCH path the connector allows: {operation['path']}")
    problems = _status_table(current, status, substatus, pending) if operations else []
    return Patch(tuple(operations), tuple(problems), status, substatus)


# ---- status -----------------------------------------------------------------------------------


def _target_status(
    current: Mapping[str, Any], update: UpdateRequest
) -> tuple[str | None, str | None, list[FieldError]]:
    old_status, old_sub = _text(current.get("status")), _text(current.get("substatus"))
    status: str | None = update.status or old_status
    substatus: str | None = update.substatus
    if substatus is None:
        substatus = old_sub
        if status is not None and status != old_status and substatus not in _allowed(status):
            only = sorted(_allowed(status))
            if len(only) != 1:
                return status, None, [_SUBSTATUS_REQUIRED]
            substatus = only[0]
    return status, substatus, []


def _allowed(status: str) -> frozenset[str]:
    return allowed_substatuses(status)


def _status_operations(
    current: Mapping[str, Any], status: str | None, substatus: str | None, update: UpdateRequest
) -> Iterator[Operation]:
    yield from _scalar(current, "/status", status, _same_text)
    yield from _scalar(current, "/substatus", substatus, _same_text)
    yield from _scalar(current, "/statusReason", update.statusReason, _same_text)


def _status_table(
    current: Mapping[str, Any],
    status: str | None,
    substatus: str | None,
    pending: list[FieldError],
) -> list[FieldError]:
    """Frozen first, then the transition, then the substatus (`pending`: none could be chosen)."""
    old = _text(current.get("status"))
    if old in TERMINAL_STATUSES:
        return [FieldError(path="/status", code="referral_closed", message=_CLOSED)]
    if status is not None and old is not None and status != old and not can_transition(old, status):
        return [FieldError(path="/status", code="invalid_transition", message=_TRANSITION)]
    if pending or status is None:
        return pending
    if not is_valid_combination(status, substatus):
        allowed = ", ".join(sorted(_allowed(status))) or "none"
        return [
            FieldError(
                path="/substatus",
                code="invalid_status_combination",
                message=f"is not allowed with this status; allowed: {allowed}",
            )
        ]
    return []


_CLOSED: Final = "the referral is Closed in Partner Center: a closed referral cannot be changed"
_TRANSITION: Final = "this status change is not allowed from the referral's current status"
_SUBSTATUS_REQUIRED: Final = FieldError(
    path="/substatus",
    code="substatus_required",
    message="give a substatus with this status (more than one goes with it)",
)


# ---- everything else --------------------------------------------------------------------------


def _other(current: Mapping[str, Any], update: UpdateRequest) -> Iterator[Operation]:
    yield from _scalar(current, "/salesStage", update.salesStage, _same_text)
    yield from _scalar(current, "/campaignId", update.campaignId, _same_text)
    yield from _scalar(current, "/referralProgram", update.referralProgram, _same_text)
    details = update.details
    if details is not None:
        here = _object(current.get("details"))
        yield from _scalar(here, "/details/dealValue", details.dealValue, _same_number)
        yield from _scalar(here, "/details/currency", details.currency, _same_code)
        yield from _scalar(here, "/details/closingDateTime", details.closingDateTime, _same_time)
        yield from _scalar(here, "/details/notes", details.notes, _same_text)
        if details.requirements is not None and details.requirements.solutions:
            existing = _list(_object(here.get("requirements")).get("solutions"))
            ids = {_fold(s.get("id")) for s in existing if isinstance(s, dict)}
            for solution in details.requirements.solutions:
                if _fold(solution.id) not in ids:
                    ids.add(_fold(solution.id))
                    yield _add("/details/requirements/solutions/-", _dump(solution))
    if update.consent is not None:
        yield from _scalar(
            _object(current.get("consent")),
            "/consent/consentToShareReferralWithMicrosoftSellers",
            update.consent.consentToShareReferralWithMicrosoftSellers,
            _same_flag,
        )
    yield from _members(current.get("team"), "/team/-", update.team or ())
    profile = update.customerProfile
    if profile is not None and profile.team:
        team = _object(current.get("customerProfile")).get("team")
        yield from _members(team, "/customerProfile/team/-", profile.team)
    registrations = _list(current.get("registrations"))
    for registration in update.registrations or ():
        wanted = _dump(registration)
        if not any(_holds(existing, wanted) for existing in registrations):
            registrations.append(wanted)
            yield _add("/registrations/-", wanted)


def _scalar(here: Mapping[str, Any], path: str, wanted: Any, same: Any) -> Iterator[Operation]:
    if wanted is None:
        return
    name = path.rsplit("/", 1)[1]
    present = here.get(name)
    if present is not None and same(present, wanted):
        return
    op = "replace" if name in here else "add"
    yield {"op": op, "path": path, "value": wanted}


def _members(existing: Any, path: str, wanted: Sequence[Any]) -> Iterator[Operation]:
    seen = {_member_key(m) for m in _list(existing) if isinstance(m, dict)}
    for member in wanted:
        value = _dump(member)
        key = _member_key(value)
        if key not in seen:
            seen.add(key)
            yield _add(path, value)


def _member_key(member: Mapping[str, Any]) -> tuple[str, ...]:
    """A person is the same person by e-mail (any case); without one, by name and phone."""
    email = _fold(member.get("email"))
    if email:
        return ("email", email)
    return tuple(_fold(member.get(k)) for k in ("firstName", "lastName", "phoneNumber"))


def _holds(existing: Any, wanted: Any) -> bool:
    """Whether `existing` already has every value `wanted` gives (extra server fields aside)."""
    if isinstance(wanted, Mapping):
        return isinstance(existing, Mapping) and all(
            _holds(existing.get(k), v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return isinstance(existing, list) and all(
            any(_holds(e, w) for e in existing) for w in wanted
        )
    return existing is not None and _same_value(existing, wanted)


def _same_value(present: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool):
        return _same_flag(present, wanted)
    if isinstance(wanted, int | float):
        return _same_number(present, wanted)
    if isinstance(wanted, str):
        return _same_code(present, wanted) or _same_time(present, wanted)
    return bool(present == wanted)


def _same_text(present: Any, wanted: Any) -> bool:
    return bool(present == wanted)


def _same_code(present: Any, wanted: Any) -> bool:
    return isinstance(present, str) and present.strip().casefold() == str(wanted).casefold()


def _same_number(present: Any, wanted: Any) -> bool:
    if isinstance(present, str):
        present = number_from_text(present)
    if isinstance(present, bool) or not isinstance(present, int | float):
        return False
    return float(present) == float(wanted)


def _same_flag(present: Any, wanted: Any) -> bool:
    if isinstance(present, str):
        present = boolean_from_text(present)
    return present is wanted


def _same_time(present: Any, wanted: Any) -> bool:
    if not isinstance(present, str) or not isinstance(wanted, str):
        return False
    a, b = parse_instant(present), parse_instant(wanted)
    if a is None or b is None or a.tzinfo is None or b.tzinfo is None:
        return False
    return a == b


def _add(path: str, value: Any) -> Operation:
    return {"op": "add", "path": path, "value": value}


def _dump(model: Any) -> dict[str, Any]:
    value: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return value


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _fold(value: Any) -> str:
    return value.strip().casefold() if isinstance(value, str) else ""
