"""Format checks for wire values: ISO codes, timestamps, email addresses.

Each check returns the value unchanged (we send what the publisher sent) or raises a
`PydanticCustomError` whose type is our stable error code and whose message never quotes the input.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache, lru_cache

from pydantic_core import PydanticCustomError


@cache
def _countries() -> frozenset[str]:
    import pycountry  # imported on first use: its databases are large (cold start)

    return frozenset(c.alpha_2 for c in pycountry.countries)


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


def check_datetime(value: str) -> str:
    # Partner Center writes up to 7 fractional digits; Python parses at most 6, so trim first.
    text = value.strip()
    head, dot, frac = text.partition(".")
    if dot:
        digits = frac.rstrip("Z").split("+")[0].split("-")[0]
        suffix = frac[len(digits) :]
        text = f"{head}.{digits[:6]}{suffix}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in value:
        raise PydanticCustomError(
            "invalid_datetime", "must be an ISO 8601 UTC timestamp, e.g. '2026-11-14T00:00:00Z'"
        )
    return value


# RFC 5322 dot-atom for ASCII local parts; anything else goes through email-validator whole.
_ASCII_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


def check_email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if at and len(local) <= 64 and _ASCII_LOCAL.match(local):
        ok = _domain_is_valid(domain)  # the costly IDNA/special-use part, cached per domain
    else:
        ok = _address_is_valid(value)
    if not ok:
        raise PydanticCustomError("invalid_email", "must be a valid email address")
    return value


@lru_cache(maxsize=4096)
def _domain_is_valid(domain: str) -> bool:
    # A customer's contacts share a domain, so this runs once per domain, not per address.
    return _address_is_valid(f"postmaster@{domain}")


def _address_is_valid(address: str) -> bool:
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True
