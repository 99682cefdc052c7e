"""Every way a Partner API call can fail, as one exception tree. No httpx here: handlers import it.

    PartnerApiError                     anything the client raises about a call
    ├── TransientError                  worth trying again later; `.retry_after` says when
    │   ├── Throttled                   429 (Retry-After honoured)
    │   ├── ServiceUnavailable          500, 502, 503, 504, or the token endpoint unreachable
    │   ├── NetworkError                connection refused, reset or dropped
    │   └── RequestTimedOut             connect, write or read timeout
    └── PermanentError                  the same request will fail the same way: never retried
        ├── InvalidRequest              400; `.errors` are FieldErrors in our own shape
        ├── Unauthenticated             401 even with a freshly fetched token
        ├── AccessDenied                403 (the signed-in user lacks the Referrals Admin role)
        ├── NotFound                    404
        ├── PreconditionFailed          412 (eTag mismatch on PATCH)
        └── UnexpectedResponse          any other 4xx, or a 2xx whose body is not a referral

Attributes every error carries: `operation` (create/get/list/patch), `status` (None when no
response arrived), `code` (the Graph error code, or None), `request_id` (the service's
`request-id` header) and `client_request_id` (ours). `TransientError` adds `retry_after` (seconds
the caller should wait before the next try; set whenever the client gives up inside the caller's
deadline) and `ambiguous` (the request may have taken effect: it was sent and no answer came, or
the answer was a 5xx — see the ambiguous-create rule in `client.py`).

Messages name the operation, status, code and request ids only. They never repeat the service's
free-text message or any part of a body: both may contain customer data.

Besides this tree a call can raise `shared.auth.errors.AuthError` subclasses when our own
credentials fail (`ReauthenticationRequired`: an operator must run `referral-relay login`). Those
are about the deployment, not the request, so a handler should retry the message later rather than
reject it.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.contracts.errors import FieldError


class PartnerApiError(Exception):
    """Base of every error the Partner API client raises about a call."""

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
        self.ambiguous = ambiguous
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
    """429 Too Many Requests."""


class ServiceUnavailable(TransientError):
    """A 5xx from the service, or the token endpoint could not be reached."""


class NetworkError(TransientError):
    """The connection could not be made, or broke before a response arrived."""


class RequestTimedOut(TransientError):
    """No connection or no response within the configured timeout."""


class PermanentError(PartnerApiError):
    """Retrying the same request cannot help."""


class InvalidRequest(PermanentError):
    """400: the service refused the body; `errors` lists what is wrong, field by field."""

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


class Unauthenticated(PermanentError):
    """401 with a token fetched just before the call: the token is not accepted at all."""


class AccessDenied(PermanentError):
    """403: the signed-in user may not do this (Referrals Admin is needed to create and update)."""


class NotFound(PermanentError):
    """404: no referral with that id (or visible to the signed-in user)."""


class PreconditionFailed(PermanentError):
    """412: the referral changed since the eTag sent in If-Match was read."""


class UnexpectedResponse(PermanentError):
    """Any other refusal, or a success whose body is not what the API documents."""
