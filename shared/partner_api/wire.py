"""Reading the Partner API's error bodies, auth challenges and Retry-After headers (pure
functions, no I/O).

Error bodies come in many shapes: the API is ASP.NET Web API + OData behind Microsoft's front
doors, and each layer answers in its own. Each shape below becomes `FieldError`s in our shape:

* Graph style (fact sheet §4): `{"error": {"code", "message", "target"?, "details"?: [{code,
  message, target}], "innerError"?}}` — `target`s become JSON Pointers into our camelCase body.
* ASP.NET Web API model binding: `{"Message", "ModelState": {"referral.customerProfile.address
  .country": ["..."]}}` — one error per message, at the key turned into a pointer. A key starts
  with the action's parameter name (`referral.`, `value.`): a first segment that is not a
  property of the Referral resource is that name and is dropped; a key that is only the
  parameter name means the whole body (`""`).
* Partner Center's REST style: `{"code": 600008 | "...", "description": "..."}`.
* RFC 7807 problem+json (ASP.NET Core): `{"title", "detail", "errors": {key: ["..."]}}` — the
  `errors` map of a validation problem is read like `ModelState`.
* Throttling: `{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}`
  — the seconds become a Retry-After when the header is missing.
* Plain text (not markup): one error at `""` with the text as its message.
* Anything else (HTML from a gateway, an empty body): one `FieldError` at path "".

Member names are matched case-insensitively, as the service's own JSON binding does.

Messages copied into `FieldError`s are redacted first: quoted text, e-mail addresses and digit runs
are replaced, because services like to echo the offending value back.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Final

from shared.contracts.errors import FieldError, json_pointer

_TRY_AGAIN = re.compile(r"try again in (\d+(?:\.\d+)?) ?s(?:econds?)?\b", re.IGNORECASE)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
_EMAIL = re.compile(r"[^\s@'\"<>(),;]+@[^\s@'\"<>(),;]+")
_DIGITS = re.compile(r"\+?\d[\d\s().-]{3,}\d")
_INDEX = re.compile(r"\[(\d+)\]")
_NAMED_INDEX = re.compile(r"\[['\"]([^'\"\]]*)['\"]\]")
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_MAX_MESSAGE = 300
_MAX_ERRORS = 100  # a body listing more is cut: the rest adds nothing a CRM team can act on
REFUSED: Final = "refused by the API"
INSUFFICIENT_CLAIMS: Final = "insufficient_claims"
_INSUFFICIENT_SPELLINGS: Final = frozenset({"insufficientclaims", "insufficentclaims"})

# Top-level properties of the Referral resource as Partner Center returns it (a real 2022
# response, issue 12): a ModelState key starting with anything else starts with the action's
# parameter name.
RESOURCE_PROPERTIES: Final = frozenset(
    name.lower()
    for line in (
        "acceptedDateTime callToAction campaignId closedDateTime consent createdDateTime",
        "createdVia customerProfile dealSensitivity details direction eTag engagementId",
        "expirationDateTime externalReferenceId favorite id inviteContext isSpam lastModifiedVia",
        "lastRunId links mpnId name organizationId organizationName qualification quality",
        "referralProgram referralSource registrationStatus registrations salesStage status",
        "statusReason substatus tags target team trackingInfo type updatedDateTime",
        "partnerRole solutionArea solutionPlay",  # the FY26 Services co-sell fields
    )
    for name in line.split()
)


@dataclass(frozen=True)
class ErrorBody:
    """What an error response said, in our terms."""

    code: str | None
    errors: tuple[FieldError, ...]
    retry_after: float | None = None  # from a "Try again in N seconds" message


@dataclass(frozen=True)
class AuthChallenge:
    """What a 401/403 said about our token, without any token material or personal data.

    `error` is the challenge's OAuth error (`insufficient_claims`, `invalid_token`, …);
    `auth_contexts` the Conditional Access authentication context ids (`c1`, …) the claims
    challenge asks for — what an operator needs to see which policy blocks the sign-in."""

    error: str | None
    auth_contexts: tuple[str, ...] = ()

    @property
    def insufficient_claims(self) -> bool:
        return self.error == INSUFFICIENT_CLAIMS


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP-date.

    `now` is the wall-clock time (POSIX seconds) the HTTP-date is measured against. A date in the
    past means "now" (0). Anything unparseable means no advice (None).
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def redact(message: str) -> str:
    """A service message with anything that may be a submitted value taken out."""
    text = _QUOTED.sub("<value>", message)
    text = _EMAIL.sub("<email>", text)
    text = _DIGITS.sub("<number>", text)
    return text[:_MAX_MESSAGE]


def target_pointer(target: str) -> str:
    """An error's `target`, `ModelState` or validation-problem key (`customerProfile.team[0]
    .email`, `CustomerProfile/Address`, `$.details.dealValue`, `referral.consent`) as a JSON
    Pointer into our camelCase body. A leading segment that is not a property of the Referral
    resource is the action's parameter name (`referral.`, `value.`) and is dropped, so `referral`
    alone is the whole body. A target that already is a JSON Pointer is kept as it is."""
    if target.startswith("/"):
        return target
    text = _NAMED_INDEX.sub(r".\1", target.strip())
    text = _INDEX.sub(r".\1", text.removeprefix("$").strip("./"))
    segments: list[str | int] = []
    for raw in re.split(r"[./]", text):
        if not raw:
            continue
        segments.append(int(raw) if raw.isdigit() else raw[0].lower() + raw[1:])
    first = segments[0] if segments else None
    if isinstance(first, str) and first.lower() not in RESOURCE_PROPERTIES:
        segments = segments[1:]
    return json_pointer(segments)


def _get(body: Mapping[str, Any], name: str) -> Any:
    """A member by name, case-insensitively (the exact spelling wins)."""
    if name in body:
        return body[name]
    lowered = name.lower()
    for key, value in body.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _code(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return _text(value)


def _field_error(entry: Mapping[str, Any], fallback_code: str) -> FieldError:
    message = _text(_get(entry, "message"))
    target = _text(_get(entry, "target"))
    return FieldError(
        path=target_pointer(target) if target else "",
        code=_code(_get(entry, "code")) or fallback_code,
        message=redact(message) if message else REFUSED,
    )


def _keyed_errors(errors: Mapping[str, Any], code: str) -> tuple[FieldError, ...]:
    """`{key: [message, …]}` (ModelState, a validation problem's `errors`) as field errors."""
    found: list[FieldError] = []
    for key, messages in errors.items():
        if not isinstance(key, str):
            continue
        path = target_pointer(key)
        listed = messages if isinstance(messages, list) else [messages]
        texts = [redact(t) for t in map(_text, listed) if t] or [REFUSED]
        found.extend(FieldError(path=path, code=code, message=t) for t in texts)
    return tuple(found[:_MAX_ERRORS])


def _root(code: str, message: object) -> tuple[FieldError, ...]:
    text = _text(message)
    return (FieldError(path="", code=code, message=redact(text) if text else REFUSED),)


def parse_error_body(body: object, status: int, *, text: str | None = None) -> ErrorBody:
    """Our reading of an error response body: `body` JSON-decoded (or None when it is not JSON),
    `text` the raw body when it is not JSON."""
    fallback = f"http_{status}"
    if isinstance(body, Mapping):
        parsed = _parse_mapping(body, fallback)
        if parsed is not None:
            return parsed
    elif body is None and text is not None and not text.lstrip().startswith("<"):
        return ErrorBody(None, _root(fallback, text))  # plain text; markup is a gateway's page
    return ErrorBody(None, _root(fallback, None))


def _parse_mapping(body: Mapping[str, Any], fallback: str) -> ErrorBody | None:
    error = _get(body, "error")
    if isinstance(error, Mapping):  # Graph / OData
        code = _code(_get(error, "code"))
        details = [d for d in _get(error, "details") or () if isinstance(d, Mapping)]
        entries = details or [error]
        errors = tuple(_field_error(e, code or fallback) for e in entries[:_MAX_ERRORS])
        return ErrorBody(code, errors)
    model_state = _get(body, "modelState")
    if isinstance(model_state, Mapping) and model_state:  # ASP.NET Web API
        return ErrorBody(None, _keyed_errors(model_state, fallback))
    problems = _get(body, "errors")
    if isinstance(problems, Mapping) and problems:  # RFC 7807 validation problem
        return ErrorBody(_code(_get(body, "code")), _keyed_errors(problems, fallback))
    description = _get(body, "description")
    if _text(description):  # Partner Center REST: {code, description}
        code = _code(_get(body, "code"))
        return ErrorBody(code, _root(code or fallback, description))
    message = _text(_get(body, "message"))
    if message:  # Web API's {"Message"} and the throttling body
        match = _TRY_AGAIN.search(message)
        retry_after = float(match.group(1)) if match else None
        return ErrorBody(None, _root(fallback, message), retry_after)
    problem = _text(_get(body, "detail")) or _text(_get(body, "title"))
    if problem:  # RFC 7807 without an errors map
        return ErrorBody(_code(_get(body, "code")), _root(fallback, problem))
    if isinstance(error, str):  # OAuth style: {"error": "insufficient_claims", ...}
        return ErrorBody(_code(error), _root(_code(error) or fallback, None))
    return None


def parse_auth_challenge(www_authenticate: str | None, body: object) -> AuthChallenge | None:
    """The OAuth error and Conditional Access contexts of a 401/403: from the `WWW-Authenticate`
    Bearer challenge (`error="insufficient_claims", claims="<base64 JSON>"`, Entra's claims
    challenge format), else from the body (`{"error": "insufficient_claims", "claims": …}` or a
    Graph error whose code says so). None when neither names anything."""
    error: str | None = None
    claims: str | None = None
    if www_authenticate:
        params = {
            match.group(1).lower(): match.group(2) if match.group(2) is not None else match.group(3)
            for match in _CHALLENGE_PARAM.finditer(www_authenticate)
        }
        error = _text(params.get("error"))
        claims = _text(params.get("claims"))
    if isinstance(body, Mapping):
        inner = _get(body, "error")
        if error is None:
            named = _get(inner, "code") if isinstance(inner, Mapping) else inner
            error = _text(named)
        if claims is None:
            claims = _text(_get(body, "claims"))
            if claims is None and isinstance(inner, Mapping):
                claims = _text(_get(inner, "claims"))
    # Microsoft's error-code page spells it `insufficent_claims`; Entra `insufficient_claims`.
    if error is not None and error.replace("_", "").lower() in _INSUFFICIENT_SPELLINGS:
        error = INSUFFICIENT_CLAIMS
    if error is None and claims is None:
        return None
    return AuthChallenge(error=error, auth_contexts=_auth_contexts(claims))


def _auth_contexts(claims: str | None) -> tuple[str, ...]:
    """The `acrs` values of a claims request (`{"access_token": {"acrs": {"essential": true,
    "value": "c1"}}}`), given as JSON or base64(url) JSON. Anything else: none."""
    if not claims:
        return ()
    decoded: object = None
    for attempt in (claims, _unbase64(claims)):
        if attempt is None:
            continue
        try:
            decoded = json.loads(attempt)
            break
        except ValueError:
            continue
    token = _get(decoded, "access_token") if isinstance(decoded, Mapping) else None
    acrs = _get(token, "acrs") if isinstance(token, Mapping) else None
    if not isinstance(acrs, Mapping):
        return ()
    values = _get(acrs, "values")
    listed = values if isinstance(values, list) else [_get(acrs, "value")]
    # Context ids are short identifiers (c1…c99); anything else is not an id and is not kept.
    return tuple(
        v for v in listed if isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,32}", v)
    )


def _unbase64(text: str) -> str | None:
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_")).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
