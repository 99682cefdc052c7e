"""In-memory referral storage: plain dicts per organisation, with the indexes lists need.

Referrals are stored exactly as they are served (the caller's JSON plus server fields), so a read
is a dict lookup and a serialization, nothing more. `engagementId` and `externalReferenceId` are
indexed because the relay looks referrals up by them before every ambiguous create; a list with
such an equality in its `$filter` touches only the matching referrals.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from partner_sandbox.resource import targets_microsoft

Referral = dict[str, Any]


def wire_time(posix: float) -> str:
    """UTC ISO-8601 with 7 fractional digits and `Z`, as Partner Center writes timestamps."""
    seconds = int(posix)
    ticks = round((posix - seconds) * 10_000_000)
    if ticks >= 10_000_000:
        seconds, ticks = seconds + 1, ticks - 10_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ticks:07d}Z"


class _OrgReferrals:
    __slots__ = ("by_engagement", "by_external", "items", "listed_at")

    def __init__(self) -> None:
        self.items: dict[str, Referral] = {}  # insertion order is creation order
        self.listed_at: dict[str, float] = {}  # when a referral starts to show in lists
        self.by_engagement: dict[str, list[str]] = {}
        self.by_external: dict[str, list[str]] = {}

    def index(self, referral: Referral) -> None:
        rid = referral["id"]
        self.by_engagement.setdefault(referral["engagementId"], []).append(rid)
        external = referral.get("externalReferenceId")
        if isinstance(external, str):
            self.by_external.setdefault(external, []).append(rid)

    def unindex_external(self, referral: Referral) -> None:
        external = referral.get("externalReferenceId")
        if isinstance(external, str):
            ids = self.by_external.get(external, [])
            if referral["id"] in ids:
                ids.remove(referral["id"])
            if not ids:
                self.by_external.pop(external, None)


class ReferralStore:
    """All referrals of all organisations. Not thread-safe: the sandbox runs on one event loop."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._ids = random.Random(seed ^ 0x5EED_1D5)
        self._orgs: dict[str, _OrgReferrals] = {}
        self._version = 0x6D00

    def clear(self) -> None:
        self._orgs.clear()
        self._ids.seed(self._seed ^ 0x5EED_1D5)

    def new_id(self) -> str:
        """A random (version 4) GUID from the seeded generator: reproducible runs, unique ids."""
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def next_etag(self, posix: float) -> str:
        """An opaque eTag with its literal quotes, shaped like the service's Cosmos DB eTags."""
        self._version += 1
        return f'"{self._version:08x}-0000-0000-0000-{int(posix) & 0xFFFFFFFF:08x}0000"'

    def _org(self, org_id: str) -> _OrgReferrals:
        org = self._orgs.get(org_id)
        if org is None:
            org = self._orgs[org_id] = _OrgReferrals()
        return org

    def add(self, org_id: str, referral: Referral, *, listed_at: float | None = None) -> None:
        """Store a new referral; lists show it from `listed_at` on (at once when None)."""
        org = self._org(org_id)
        org.items[referral["id"]] = referral
        if listed_at is not None:
            org.listed_at[referral["id"]] = listed_at
        org.index(referral)

    def listed(self, org_id: str, referral_id: str, now: float) -> bool:
        """Whether lists show the referral at `now` (list lag)."""
        org = self._orgs.get(org_id)
        at = org.listed_at.get(referral_id) if org else None
        return at is None or at <= now

    def get(self, org_id: str, referral_id: str) -> Referral | None:
        org = self._orgs.get(org_id)
        return org.items.get(referral_id) if org else None

    def find(self, referral_id: str) -> tuple[str, Referral] | None:
        """The organisation and referral with this id, in any organisation."""
        for org_id, org in self._orgs.items():
            referral = org.items.get(referral_id)
            if referral is not None:
                return org_id, referral
        return None

    def replace(self, org_id: str, referral: Referral) -> None:
        """Store a new version of an existing referral (same id and engagement)."""
        org = self._org(org_id)
        old = org.items[referral["id"]]
        if old.get("externalReferenceId") != referral.get("externalReferenceId"):
            org.unindex_external(old)
            external = referral.get("externalReferenceId")
            if isinstance(external, str):
                org.by_external.setdefault(external, []).append(referral["id"])
        org.items[referral["id"]] = referral

    def has_engagement(self, org_id: str, engagement_id: str) -> bool:
        org = self._orgs.get(org_id)
        return bool(org and org.by_engagement.get(engagement_id))

    def select(self, org_id: str, equalities: Sequence[tuple[str, str]] = ()) -> Iterable[Referral]:
        """Referrals of one organisation in creation order, narrowed by indexed equalities that
        the caller's filter requires (the filter itself is still applied by the caller)."""
        org = self._orgs.get(org_id)
        if org is None:
            return ()
        best: list[str] | None = None
        for field, value in equalities:
            if field == "id":
                ids = [value] if value in org.items else []
            elif field == "engagementId":
                ids = org.by_engagement.get(value, [])
            elif field == "externalReferenceId":
                ids = org.by_external.get(value, [])
            else:
                continue
            if best is None or len(ids) < len(best):
                best = ids
        if best is None:
            return org.items.values()
        return self._in_creation_order(org, best)

    @staticmethod
    def _in_creation_order(org: _OrgReferrals, ids: list[str]) -> Iterator[Referral]:
        # Index lists are appended at creation, so they are already in creation order.
        for rid in ids:
            referral = org.items.get(rid)
            if referral is not None:
                yield referral

    def __len__(self) -> int:
        return sum(len(org.items) for org in self._orgs.values())

    def stats(self) -> dict[str, Any]:
        by_engagement: Counter[str] = Counter()
        by_external: Counter[str] = Counter()
        microsoft: Counter[str] = Counter()
        for org in self._orgs.values():
            for referral in org.items.values():
                by_engagement[referral["engagementId"]] += 1
                external = referral.get("externalReferenceId")
                if isinstance(external, str) and external:
                    by_external[external] += 1
                if targets_microsoft(referral):
                    microsoft[referral["engagementId"]] += 1
        return {
            "stored": sum(by_engagement.values()),
            "byEngagement": dict(by_engagement),
            "byExternalReferenceId": dict(by_external),
            "microsoftByEngagement": dict(microsoft),
        }
