"""Wire values: how intake canonicalises them, and the format checks that run afterwards.

Normalisers (used by `intake.py`, chosen by the `Normalise` marker on a field's type) never fail:
what they cannot read they return unchanged, and the check reports it. Each check returns the
value unchanged or raises a `PydanticCustomError` whose type is our stable error code and whose
message never quotes the input.
"""

from __future__ import annotations

import enum
import math
import re
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, Final

from pydantic_core import PydanticCustomError


class Normalise(enum.Enum):
    """Markers placed in a field's `Annotated[...]` metadata for intake's canonicalisation."""

    CODE = "code"  # ISO codes: " us " → "US"
    EMAIL = "email"  # surrounding white space trimmed
    DATETIME = "datetime"  # no offset → UTC ("Z"); a bare date → midnight UTC


# ---- normalisers ------------------------------------------------------------------------------

_NUMBER: Final = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_BOOLEANS: Final = {"true": True, "false": False}


def number_from_text(value: str) -> int | float | None:
    """A JSON-like numeric string as a number ("10000" → 10000), or None when it is not one.
    Web API's number binding reads such strings; Microsoft's own PATCH examples send them."""
    text = value.strip()
    if not _NUMBER.match(text):
        return None
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    parsed = float(text)
    return parsed if math.isfinite(parsed) else None


def boolean_from_text(value: str) -> bool | None:
    """ "true"/"false" in any case (Microsoft's older examples send consent flags as strings)."""
    return _BOOLEANS.get(value.strip().lower())


def normalise_text(value: str, marker: Normalise | None) -> str:
    if marker is Normalise.CODE:
        return value.strip().upper()
    if marker is Normalise.EMAIL:
        return value.strip()
    if marker is Normalise.DATETIME:
        return utc_datetime(value)
    return value


_DATE_ONLY: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def utc_datetime(value: str) -> str:
    """Pin a timestamp's meaning: without an offset it is UTC, written with a 'Z'."""
    text = value.strip()
    if _DATE_ONLY.match(text):
        return f"{text}T00:00:00Z"
    parsed = _parse_datetime(text)
    if parsed is not None and parsed.tzinfo is None:
        return f"{text}Z"
    return value


# ---- checks ---------------------------------------------------------------------------------


@cache
def _countries() -> frozenset[str]:
    import pycountry  # imported on first use: its databases are large (cold start)

    # XK (Kosovo) is a user-assigned code, not in ISO's list, but used by the EU and by .NET's
    # RegionInfo (what Partner Center runs on).
    return frozenset(c.alpha_2 for c in pycountry.countries) | {"XK"}


@cache
def _currencies() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.currencies)


def check_country(value: str) -> str:
    if value not in _countries():
        raise PydanticCustomError(
            "invalid_country", "must be an ISO 3166-1 alpha-2 country code, e.g. 'US'"
        )
    return value


def check_currency(value: str) -> str:
    if value not in _currencies():
        raise PydanticCustomError(
            "invalid_currency", "must be an ISO 4217 currency code, e.g. 'USD'"
        )
    return value


def parse_instant(value: str) -> datetime | None:
    """An ISO 8601 timestamp as a datetime (up to 7 fractional digits), or None."""
    return _parse_datetime(value.strip())


def _parse_datetime(text: str) -> datetime | None:
    # Partner Center writes up to 7 fractional digits; Python parses at most 6, so trim first.
    head, dot, frac = text.partition(".")
    if dot:
        digits = re.match(r"\d*", frac)
        count = len(digits.group(0)) if digits else 0
        text = f"{head}.{frac[: min(count, 6)]}{frac[count:]}"
    if "T" not in text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def check_datetime(value: str) -> str:
    parsed = _parse_datetime(value.strip())
    if parsed is None or parsed.tzinfo is None:
        raise PydanticCustomError(
            "invalid_datetime", "must be an ISO 8601 timestamp, e.g. '2026-11-14T00:00:00Z'"
        )
    return value


# RFC 5322 dot-atom for ASCII local parts; anything else goes through email-validator whole.
_ASCII_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


def check_email(value: str) -> str:
    """Syntax only: no deliverability, special-use domains (`.test`, `localhost`) allowed."""
    local, at, domain = value.rpartition("@")
    if at and len(local) <= 64 and _ASCII_LOCAL.match(local):
        ok = _domain_is_valid(domain)  # the costly IDNA part, cached per domain
    else:
        ok = _address_is_valid(value)
    if not ok:
        raise PydanticCustomError("invalid_email", "must be a valid email address")
    return value


@lru_cache(maxsize=4096)
def _domain_is_valid(domain: str) -> bool:
    # A customer's contacts share a domain, so this runs once per domain, not per address.
    return _address_is_valid(f"postmaster@{domain}")


@cache
def _email_validator() -> Any:
    import email_validator

    # The library refuses special-use names (.local, .test, localhost) by a module-level list it
    # documents as the way to change that; those are syntactically valid and a test tenant may
    # use them, and Partner Center does not document refusing them.
    email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()
    return email_validator


def _address_is_valid(address: str) -> bool:
    library = _email_validator()
    try:
        library.validate_email(address, check_deliverability=False, globally_deliverable=False)
    except library.EmailNotValidError:
        return False
    return True
