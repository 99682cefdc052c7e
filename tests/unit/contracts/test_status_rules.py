import pytest

from shared.contracts.status_rules import can_transition, is_valid_combination


@pytest.mark.parametrize(
    ("status", "substatus", "ok"),
    [
        ("New", "Pending", True),
        ("New", "Received", True),
        ("New", "Accepted", False),
        ("Active", "Accepted", True),
        ("Active", "Won", False),
        ("Closed", "Won", True),
        ("Closed", "Expired", True),
        ("Closed", "Pending", False),
        ("Bogus", None, False),
        (None, "Pending", True),
        (None, "Bogus", False),
        ("Active", None, True),
    ],
)
def test_status_substatus_combinations(status: str | None, substatus: str | None, ok: bool) -> None:
    assert is_valid_combination(status, substatus) is ok


@pytest.mark.parametrize(
    ("current", "new", "ok"),
    [
        ("New", "Active", True),
        ("New", "Closed", True),
        ("Active", "New", False),
        ("Active", "Closed", True),
        ("Closed", "Closed", True),
        ("Closed", "Active", False),
        ("Closed", "New", False),
        ("Unknown", "New", False),
    ],
)
def test_status_transitions(current: str, new: str, ok: bool) -> None:
    assert can_transition(current, new) is ok
