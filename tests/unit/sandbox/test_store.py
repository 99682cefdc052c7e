"""Referral storage: wire timestamps, eTags, ids and the indexes lists rely on."""

from __future__ import annotations

import re
import uuid

import pytest

from partner_sandbox.store import ReferralStore, targets_microsoft, wire_time


@pytest.mark.parametrize(
    ("posix", "text"),
    [
        (1550887523.2931817, "2019-02-23T02:05:23.2931817Z"),
        (0.0, "1970-01-01T00:00:00.0000000Z"),
        (1.99999999, "1970-01-01T00:00:02.0000000Z"),  # rounding carries into the seconds
    ],
)
def test_wire_time_has_seven_fractional_digits(posix: float, text: str) -> None:
    assert wire_time(posix) == text


def test_etags_are_quoted_opaque_and_move_on() -> None:
    store = ReferralStore(seed=1)

    first, second = store.next_etag(1550887523.0), store.next_etag(1550887523.0)

    assert re.fullmatch(r'"[0-9a-f]{8}-0000-0000-0000-5c70aa630000"', first)
    assert first != second


def test_ids_are_seeded_guids() -> None:
    ids = [ReferralStore(seed=2).new_id() for _ in range(2)]
    store = ReferralStore(seed=2)
    sequence = [store.new_id(), store.new_id()]

    assert ids[0] == ids[1] == sequence[0] != sequence[1]
    assert uuid.UUID(sequence[0]).version == 4
    store.clear()
    assert store.new_id() == sequence[0]


def _referral(rid: str, engagement: str, external: str | None = None) -> dict[str, object]:
    return {"id": rid, "engagementId": engagement, "externalReferenceId": external}


def test_select_narrows_by_the_smallest_index_in_creation_order() -> None:
    store = ReferralStore(seed=3)
    for rid, engagement, external in [("a", "e1", "x"), ("b", "e1", None), ("c", "e2", "x")]:
        store.add("org", _referral(rid, engagement, external))

    def ids(*equalities: tuple[str, str]) -> list[object]:
        return [r["id"] for r in store.select("org", equalities)]

    assert ids() == ["a", "b", "c"]
    assert ids(("engagementId", "e1")) == ["a", "b"]
    assert ids(("externalReferenceId", "x")) == ["a", "c"]
    assert ids(("engagementId", "e1"), ("externalReferenceId", "x")) in (["a", "b"], ["a", "c"])
    assert ids(("id", "c")) == ["c"]
    assert ids(("id", "zz")) == []
    assert list(store.select("other-org")) == []
    assert store.has_engagement("org", "e2")
    assert not store.has_engagement("other-org", "e2")


def test_replace_moves_the_external_reference_index() -> None:
    store = ReferralStore(seed=4)
    store.add("org", _referral("a", "e1", "x"))

    store.replace("org", _referral("a", "e1", "y"))

    assert list(store.select("org", [("externalReferenceId", "x")])) == []
    assert [r["id"] for r in store.select("org", [("externalReferenceId", "y")])] == ["a"]
    assert store.stats()["byExternalReferenceId"] == {"y": 1}


def test_targets_microsoft() -> None:
    assert targets_microsoft({"target": [{"type": "BusinessProfileLocation", "id": "msft"}]})
    assert not targets_microsoft({"target": [{"type": "SolutionProfile", "id": "msft"}]})
    assert not targets_microsoft({"target": None})
