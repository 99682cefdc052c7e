"""The fault kinds of issues 13 §3 and 16 §2: their SPEC keys, the draws, the rate cap."""

from __future__ import annotations

import argparse

import pytest

from partner_sandbox.config import FaultSpec, SandboxConfig, add_arguments, config_from_args
from partner_sandbox.faults import Fault, FaultInjector, FilterFault, LateAnswer
from partner_sandbox.late import LateCommits
from partner_sandbox.rate_cap import RateCap


def test_the_new_keys_parse_and_round_trip() -> None:
    text = (
        "late=0.1,late-delay=30,list-lag=5,filter-ci=0.2,filter-ignored=0.1,"
        "filter-refused=0.05,rate-cap=100,503=0.1"
    )

    spec = FaultSpec.parse(text)

    assert (spec.late, spec.late_delay, spec.list_lag, spec.rate_cap) == (0.1, 30, 5, 100)
    assert (spec.filter_ci, spec.filter_ignored, spec.filter_refused) == (0.2, 0.1, 0.05)
    assert FaultSpec.parse(spec.to_spec()) == spec
    assert FaultSpec().late_delay == 20  # the documented default


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("late=0.6,503=0.5", "more than 1"),
        ("filter-ci=0.6,filter-ignored=0.5", "filter fault probabilities"),
        ("late=2", "between 0 and 1"),
        ("list-lag=-1", "non-negative"),
        ("rate-cap=x", "not a number"),
        ("filter-sloppy=1", "unknown fault"),
    ],
)
def test_bad_new_keys_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultSpec.parse(text)


def test_late_applies_to_creates_only_and_keeps_other_routes_sequences() -> None:
    base = FaultSpec.parse("500=0.3")
    with_late = FaultSpec.parse("500=0.3,late=0.5")
    plain = FaultInjector(SandboxConfig(seed=4, faults=base))
    late = FaultInjector(SandboxConfig(seed=4, faults=with_late))

    gets = [plain.decide("get").fault for _ in range(300)]
    gets_with_late = [late.decide("get").fault for _ in range(300)]

    assert gets == gets_with_late  # `late` is drawn last: nothing else shifts
    assert Fault.LATE not in gets_with_late
    creates = [late.decide("create") for _ in range(300)]
    late_ones = [d for d in creates if d.fault is Fault.LATE]
    assert 100 < len(late_ones) < 200
    assert {d.late_answer for d in late_ones} == set(LateAnswer)
    assert all(0 <= d.late_after_s <= 20 for d in late_ones)


def test_a_scripted_late_fault_on_another_route_is_not_injected() -> None:
    injector = FaultInjector(SandboxConfig())
    injector.script(Fault.LATE, "*", count=2)

    assert injector.decide("list").fault is None
    assert injector.decide("create").fault is Fault.LATE


def test_filter_faults_are_drawn_only_when_set_and_refused_only_for_external_ids() -> None:
    quiet = FaultInjector(SandboxConfig(seed=1))
    assert {quiet.decide_filter(True) for _ in range(50)} == {None}

    refusing = FaultInjector(SandboxConfig(faults=FaultSpec(filter_refused=1)))
    assert refusing.decide_filter(True) is FilterFault.REFUSED
    assert refusing.decide_filter(False) is None
    assert refusing.injected["filter-refused"] == 1

    mixed = FaultInjector(
        SandboxConfig(seed=2, faults=FaultSpec.parse("filter-ci=0.5,filter-ignored=0.5"))
    )
    assert {mixed.decide_filter(True) for _ in range(100)} == {
        FilterFault.CASE_INSENSITIVE,
        FilterFault.IGNORED,
    }


def test_the_rate_cap_is_a_sliding_window_per_organisation() -> None:
    cap = RateCap()

    admitted = [cap.admit("org", 100.0 + i * 0.1, 3) for i in range(3)]
    refused = cap.admit("org", 100.25, 3)

    assert admitted == [None, None, None]
    assert refused == 1  # the first slot frees at 101.0: 0.75 s, rounded up
    assert cap.admit("other", 100.25, 3) is None  # another tenant has its own window
    assert cap.admit("org", 101.0, 3) is None  # the first request left the window
    assert cap.admit("org", 100.5, 0) is None  # 0: no cap
    assert cap.capped == 1


def test_a_fractional_rate_cap_spaces_requests_out() -> None:
    cap = RateCap()

    assert cap.admit("org", 0.0, 0.25) is None
    assert cap.admit("org", 1.0, 0.25) == 3  # one request per 4 s
    assert cap.admit("org", 4.0, 0.25) is None


def test_late_commits_come_out_in_due_order() -> None:
    late = LateCommits()
    for due in (30.0, 10.0, 20.0):
        late.schedule("org", {"id": str(due)}, due)

    assert [c.referral["id"] for c in late.pop_due(20.0)] == ["10.0", "20.0"]
    assert late.stats() == {"scheduled": 3, "landed": 2, "pending": 1}
    assert [c.due for c in late.pop_due(None)] == [30.0]


def test_the_rate_cap_cli_flag() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    config = config_from_args(parser.parse_args(["--rate-cap", "50", "--faults", "503=0.1"]))
    documented = config_from_args(parser.parse_args(["--next-link", "documented"]))

    assert (config.faults.rate_cap, config.faults.unavailable) == (50, 0.1)
    assert documented.next_link == "documented"
    assert config_from_args(parser.parse_args([])).faults.rate_cap == 0
