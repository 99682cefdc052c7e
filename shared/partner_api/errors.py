"""Every way a Partner API call can fail, as one exception tree. No httpx here: handlers import it.

    PartnerApiError                     anything the client raises about a call
    ├── TransientError                  worth trying again later; `.retry_after` says when
    │   ├── Throttled                   429 or 509 (Retry-After honoured)
    │   ├── ServiceUnavailable          500, 502, 503, 504, or the token endpoint unreachable
    │   ├── NetworkError                connection refused, reset or dropped
    │   ├── RequestTimedOut             connect, write or read timeout
    │   └── AmbiguousResponse           202 without the referral, or 409, on create: the
    │                                   referral may exist (look it up; never POST blindly)
    ├── ConfigurationError              the deployment's sign-in, consent or role is wrong: hold
    │   │                               the message (retry later, alert), never reject it
    │   ├── Unauthenticated             401 even with a freshly fetched token
    │   └── AccessDenied                403 (no Referrals Admin role, or Conditional Access)
    └── PermanentError                  the same request will fail the same way: never retried
        ├── InvalidRequest              400; `.errors` are FieldErrors in our own shape
        ├── NotFound                    404
        ├── PreconditionFailed          412 (eTag mismatch on PATCH)
        └── UnexpectedResponse          any other 4xx, or a 2xx whose body is not a referral

Every class has a stable `CODE` (`throttled`, `access_denied`, …): alert queries and outcome
events name it, so renaming a class changes nothing outside this module.

Attributes every error carries: `operation` (create/get/list/patch), `status` (None when no
response arrived), `code` (the service's error code: Graph `error.code`, or the `code` of a
`{code, description}` body; else None), `request_id` (the service's
`request-id` header) and `client_request_id` (ours). `TransientError` adds `retry_after` (seconds
the caller should wait before the next try; set whenever the client gives up inside the caller's
deadline) and `ambiguous` (the request may have taken effect: it was sent and no answer came, or
the answer was a 5xx, 202 or 409 — see the ambiguous-create rule in `client.py`).
`ConfigurationError` adds `challenge` (the OAuth error of a `WWW-Authenticate` challenge or body:
`insufficient_claims` for Conditional Access) and `auth_contexts` (the authentication context ids
a claims challenge asks for); neither holds token material or personal data.

Messages name the operation, status, code and request ids only. They never repeat the service's
free-text message or any part of a body: both may contain customer data.

Besides this tree a call can raise `shared.auth.errors.AuthError` subclasses when our own
credentials fail (`ReauthenticationRequired`: an operator must run `referral-relay login`). Those
are about the deployment, not the request, so a handler should retry the message later rather than
reject it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from shared.contracts.errors import FieldError


class PartnerApiError(Exception):
    """Base of every error the Partner API client raises about a call."""

    CODE: ClassVar[str] = "partner_api_error"

    def __init__(
        self,
        operation: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        client_request_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.operation = operation
        self.status = status
        self.code = code
        self.request_id = request_id
        self.client_request_id = client_request_id
        self.detail = detail
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"Partner API {self.operation} failed: {type(self).__name__}"]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.detail:
            parts.append(self.detail)
        parts.append(f"request-id={self.request_id or '-'}")
        parts.append(f"client-request-id={self.client_request_id or '-'}")
        return ", ".join(parts)


class TransientError(PartnerApiError):
    """The call may succeed if tried again later."""

    CODE: ClassVar[str] = "transient"
    ALWAYS_AMBIGUOUS: ClassVar[bool] = False  # set by the kinds that are ambiguous by nature

    def __init__(
        self,
        operation: str,
        *,
        retry_after: float | None = None,
        ambiguous: bool = False,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        client_request_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        self.ambiguous = ambiguous or self.ALWAYS_AMBIGUOUS
        super().__init__(
            operation,
            status=status,
            code=code,
            request_id=request_id,
            client_request_id=client_request_id,
            detail=detail,
        )

    def _describe(self) -> str:
        text = super()._describe()
        if self.ambiguous:
            text += ", the request may have taken effect"
        if self.retry_after is not None:
            text += f", retry after {self.retry_after:.1f}s"
        return text

    def give_up(self, retry_after: float) -> TransientError:
        """Mark this error as final for the current deadline, suggesting when to try again."""
        self.retry_after = retry_after
        self.args = (self._describe(),)
        return self


class Throttled(TransientError):
    """429 Too Many Requests, or 509 Bandwidth Limit Exceeded (documented as retryable)."""

    CODE: ClassVar[str] = "throttled"


class ServiceUnavailable(TransientError):
    """A 5xx from the service, or the token endpoint could not be reached."""

    CODE: ClassVar[str] = "unavailable"


class NetworkError(TransientError):
    """The connection could not be made, or broke before a response arrived."""

    CODE: ClassVar[str] = "network"


class RequestTimedOut(TransientError):
    """No connection or no response within the configured timeout."""

    CODE: ClassVar[str] = "timeout"


class PermanentError(PartnerApiError):
    """Retrying the same request cannot help."""

    CODE: ClassVar[str] = "permanent"


class InvalidRequest(PermanentError):
    """400: the service refused the body; `errors` lists what is wrong, field by field."""

    CODE: ClassVar[str] = "invalid_request"

    def __init__(
        self,
        operation: str,
        *,
        errors: Sequence[FieldError],
        status: int | None = 400,
        code: str | None = None,
        request_id: str | None = None,
        client_request_id: str | None = None,
    ) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__(
            operation,
            status=status,
            code=code,
            request_id=request_id,
            client_request_id=client_request_id,
            detail=f"{len(self.errors)} field error(s)",
        )


class ConfigurationError(PartnerApiError):
    """The deployment cannot call the API at all (sign-in, consent, role, Conditional Access).

    Not the message's fault: a handler holds the message (reschedules it like a transient failure,
    so nothing is lost and it can be replayed once the role is fixed) and never rejects it.

    `challenge` is the OAuth error the service's `WWW-Authenticate` header or body named
    (`insufficient_claims` for a Conditional Access claims challenge, `invalid_token`, …) and
    `auth_contexts` the Conditional Access authentication context ids it asked for: both are
    non-personal and carry no token material (the claims request itself is not kept)."""

    CODE: ClassVar[str] = "configuration"

    def __init__(
        self,
        operation: str,
        *,
        challenge: str | None = None,
        auth_contexts: Sequence[str] = (),
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        client_request_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.challenge = challenge
        self.auth_contexts: tuple[str, ...] = tuple(auth_contexts)
        super().__init__(
            operation,
            status=status,
            code=code,
            request_id=request_id,
            client_request_id=client_request_id,
            detail=detail,
        )

    def _describe(self) -> str:
        text = super()._describe()
        if self.challenge:
            text += f", challenge={self.challenge}"
        if self.auth_contexts:
            text += f", auth_contexts={','.join(self.auth_contexts)}"
        return text


class Unauthenticated(ConfigurationError):
    """401 with a token fetched just before the call: the token is not accepted at all."""

    CODE: ClassVar[str] = "unauthenticated"


class AccessDenied(ConfigurationError):
    """403: the signed-in user may not do this (no Referrals Admin role, or a Conditional Access
    policy such as `insufficient_claims`)."""

    CODE: ClassVar[str] = "access_denied"


class NotFound(PermanentError):
    """404: no referral with that id (or visible to the signed-in user)."""

    CODE: ClassVar[str] = "not_found"


class PreconditionFailed(PermanentError):
    """412: the referral changed since the eTag sent in If-Match was read."""

    CODE: ClassVar[str] = "precondition_failed"


class UnexpectedResponse(PermanentError):
    """Any other refusal, or a success whose body is not what the API documents."""

    CODE: ClassVar[str] = "unexpected_response"


class AmbiguousResponse(TransientError):
    """202 or 409 answering a create: the service may hold the referral (accepted for later
    processing, or a conflict with one that exists). Always `ambiguous`: look it up first."""

    CODE: ClassVar[str] = "ambiguous_response"
    ALWAYS_AMBIGUOUS: ClassVar[bool] = True
