"""The referral status table (fact sheet §6) as pure functions, for creates and later updates."""

from __future__ import annotations

from typing import Final

# status -> (statuses it may move to, substatuses allowed with it)
_TABLE: Final[dict[str, tuple[frozenset[str], frozenset[str]]]] = {
    "New": (frozenset({"New", "Active", "Closed"}), frozenset({"Pending", "Received"})),
    "Active": (frozenset({"Active", "Closed"}), frozenset({"Accepted"})),
    "Closed": (frozenset({"Closed"}), frozenset({"Won", "Lost", "Declined", "Expired"})),
}

TERMINAL_STATUSES: Final = frozenset({"Closed"})


def allowed_substatuses(status: str) -> frozenset[str]:
    """Substatuses that may accompany `status` (empty for an unknown status)."""
    entry = _TABLE.get(status)
    return entry[1] if entry else frozenset()


def is_valid_combination(status: str | None, substatus: str | None) -> bool:
    """Whether a status/substatus pair is allowed. Either may be absent (the server defaults it)."""
    if status is None:
        return substatus is None or any(substatus in subs for _, subs in _TABLE.values())
    if status not in _TABLE:
        return False
    return substatus is None or substatus in allowed_substatuses(status)


def can_transition(current: str, new: str) -> bool:
    """Whether a referral in `current` status may move to `new`. Closed is terminal."""
    entry = _TABLE.get(current)
    return entry is not None and new in entry[0]
