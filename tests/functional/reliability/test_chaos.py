"""Chaos, small and seeded (design §8; bench/chaos.py runs the large one): every fault kind on
about 20 % of calls, crashes between every two handler steps, resends and invalid messages —
no duplicate referral, no lost input, every input accounted for."""

from __future__ import annotations

from local_host.chaos import CHECKPOINTS, ChaosConfig, run_chaos

FAULT_KINDS = {"429", "500", "503", "drop", "hang", "lost"}


async def test_a_seeded_chaos_run_duplicates_nothing_and_loses_nothing() -> None:
    # Twice bench/chaos.py's crash rate, so that each of the four crash points is hit ~10 times
    # whatever the interleaving (at 3 % one of them could go unhit now and then).
    config = ChaosConfig(events=150, seed=11, crash_rate=0.06, limit_seconds=240)
    report = await run_chaos(config)
    assert report.finished
    assert (report.duplicates_in_api, report.lost, report.unaccounted) == (0, 0, 0), report.problems
    assert report.created + report.connected + report.rejected + report.failed == report.inputs
    # The run really was chaotic: every crash point, every fault kind, resends, rejections.
    assert set(report.crashes) == set(CHECKPOINTS)
    assert set(report.faults) == FAULT_KINDS
    assert report.published > report.inputs
    assert report.rejected > 0
    assert report.connected > 0
    assert report.created > 0
