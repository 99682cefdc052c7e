"""The Partner API port: what the handlers call. `client.PartnerApiClient` implements it over httpx.

Every method raises only `shared.partner_api.errors.PartnerApiError` subclasses (plus
`shared.auth.errors.AuthError` when our own credentials fail). `deadline` is an absolute time on
the client's monotonic clock (`time.monotonic` unless the composition root injects another):
retries stop before it, and the last transient error is raised with `retry_after` set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from shared.contracts.referral import Referral


class PartnerApi(Protocol):
    async def create_referral(
        self,
        body: Mapping[str, Any],
        *,
        correlation_id: str,
        deadline: float,
        retry_ambiguous: bool,
    ) -> Referral:
        """POST a referral. With `retry_ambiguous=False`, a failure after which the referral may
        exist (timeout or dropped connection after sending, or a 5xx) is raised at once as a
        `TransientError` with `ambiguous=True`: look it up by externalReferenceId before
        posting again."""
        ...

    async def get_referral(
        self, referral_id: str, *, correlation_id: str, deadline: float
    ) -> Referral: ...

    def list_referrals(
        self,
        *,
        filter: str | None,
        top: int | None = None,
        orderby: str | None = None,
        correlation_id: str,
        deadline: float,
    ) -> AsyncIterator[Referral]:
        """Every matching referral, following `@odata.nextLink` across pages. Build `filter`
        with `shared.partner_api.odata` (it escapes string literals)."""
        ...

    async def patch_referral(
        self,
        referral_id: str,
        operations: Sequence[Mapping[str, Any]],
        *,
        etag: str | None,
        return_representation: bool,
        correlation_id: str,
        deadline: float,
    ) -> Referral | None:
        """JSON Patch (`add`/`replace` only). `etag` goes into If-Match. Returns the referral
        when the service sends it back (`return_representation=True`), else None."""
        ...
