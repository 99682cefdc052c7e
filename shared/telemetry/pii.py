"""PII scrubbing: the safety net under "telemetry carries ids and codes, never contact data".

Our code never logs, traces or raises with customer names, emails or phone numbers. This module
is what catches a mistake anyway, at every exit (local log formatters, the logging filter, the
OpenTelemetry span and log-record processors in `processors.py`):

* **Patterns** — anything shaped like an email address becomes `[email]`; a run of 7 to 15
  digits written like a phone number (`+44 20 7946 0958`, `(425) 555-0100`, `4255550100`) becomes
  `[phone]`. Dates, GUIDs, trace ids and numbers inside identifiers are left alone.
* **Known values** — the names, emails and phone numbers of the contacts in the message being
  processed. `shared.invocation` opens a `ContactRegistry` per invocation (a context variable, so
  concurrent invocations never see each other's contacts); the inbound body and every referral the
  Partner API returns feed it (`remember_contacts`). Names are matched as whole words,
  case-insensitively, and become `[name]`. A name shorter than 3 characters is not registered
  (it would blank out unrelated words); the patterns still catch that contact's email and phone.

This module imports nothing from OpenTelemetry: the local log formatters use it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

EMAIL_MASK: Final = "[email]"
PHONE_MASK: Final = "[phone]"
NAME_MASK: Final = "[name]"

_EMAIL: Final = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# A phone-like token: optional +, digits with spaces, dots, dashes or brackets, not glued to a
# word or an identifier on either side. Digit count and shape are checked in `_phone`.
_PHONE_CANDIDATE: Final = re.compile(r"(?<![\w\-./:])\+?\(?\d[\d\s().\-]{5,22}\d(?![\w\-/:])")
_DATE_OR_TIME: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?|\d{2}:\d{2}:\d{2}"
)
_MIN_NAME_LENGTH: Final = 3

# Keys whose string values are contact data, wherever they appear in a referral (customer team,
# partner team, invitations); `customerProfile.name` is the customer's own name.
_CONTACT_KEYS: Final = {
    "firstName": NAME_MASK,
    "lastName": NAME_MASK,
    "email": EMAIL_MASK,
    "phoneNumber": PHONE_MASK,
}


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    if not 7 <= digits <= 15 or _DATE_OR_TIME.fullmatch(text.strip()):
        return text
    return PHONE_MASK


def scrub_patterns(text: str) -> str:
    """Mask email addresses and phone-number-shaped digit runs."""
    # Cheap C-level prefilters first: most values (ids, codes, names of things) have neither.
    if "@" in text:
        text = _EMAIL.sub(EMAIL_MASK, text)
    if _PHONE_CANDIDATE.search(text) is not None:
        text = _PHONE_CANDIDATE.sub(_phone, text)
    return text


class ContactRegistry:
    """The contact values of one invocation, each with its mask; one regex, built on first use."""

    __slots__ = ("_masks", "_pattern")

    def __init__(self) -> None:
        self._masks: dict[str, str] = {}  # casefolded value -> mask
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str, mask: str = NAME_MASK) -> None:
        value = value.strip()
        key = value.casefold()
        if len(value) >= _MIN_NAME_LENGTH and key not in self._masks:
            self._masks[key] = mask
            self._pattern = None

    def __len__(self) -> int:
        return len(self._masks)

    def scrub(self, text: str) -> str:
        if not self._masks:
            return text
        if self._pattern is None:
            # Longest first, so "Sue Smith" masks as one name rather than two.
            alternatives = sorted(self._masks, key=len, reverse=True)
            self._pattern = re.compile(
                r"(?<!\w)(?:" + "|".join(map(re.escape, alternatives)) + r")(?!\w)", re.IGNORECASE
            )
        masks = self._masks
        return self._pattern.sub(lambda m: masks.get(m.group(0).casefold(), NAME_MASK), text)


_registry: ContextVar[ContactRegistry | None] = ContextVar("relay_contact_registry", default=None)


@contextmanager
def contact_scope() -> Iterator[ContactRegistry]:
    """A fresh registry for one invocation (tasks it starts share it: contexts copy the ref)."""
    registry = ContactRegistry()
    token = _registry.set(registry)
    try:
        yield registry
    finally:
        _registry.reset(token)


def remember_contacts(data: object) -> None:
    """Register the contact values found in a referral-shaped JSON value (no-op outside a scope).

    The walk is iterative and checks exact types (decoded JSON is plain dicts and lists): it runs
    on every inbound body and every referral the API returns, so it must stay cheap.
    """
    registry = _registry.get()
    if registry is None:
        return
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        if type(node) is list:
            stack.extend(item for item in node if type(item) is dict or type(item) is list)
            continue
        if type(node) is not dict:
            if isinstance(node, Mapping):  # not decoded JSON (a test, a model dump): same rules
                stack.append(dict(node))
            continue
        for key, value in node.items():
            kind = type(value)
            if kind is str:
                mask = _CONTACT_KEYS.get(key)
                if mask is not None:
                    registry.add(value, mask)
            elif kind is dict or kind is list:
                stack.append(value)
        first, last = node.get("firstName"), node.get("lastName")
        if type(first) is str and type(last) is str:
            registry.add(f"{first.strip()} {last.strip()}")  # masks as one [name]
        profile = node.get("customerProfile")
        if type(profile) is dict and type(profile.get("name")) is str:
            registry.add(profile["name"])


def scrub(text: str) -> str:
    """Everything we know to mask: the patterns, then this invocation's contacts (in that order,
    so that a name inside an email address does not break the address's pattern)."""
    text = scrub_patterns(text)
    registry = _registry.get()
    return registry.scrub(text) if registry is not None else text


def scrub_value(value: Any) -> Any:
    """`scrub` for an attribute value: strings and sequences of strings; others unchanged."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, tuple | list) and any(isinstance(v, str) for v in value):
        return type(value)(scrub(v) if isinstance(v, str) else v for v in value)
    return value
