"""Chaos: referrals through both functions with every fault, crashes between every two handler
steps, resends and invalid messages — then every input accounted for (local_host/chaos.py).

    python bench/chaos.py [--events N] [--seed S] [--json]
                          [--fault-rate F] [--crash-rate P] [--duplicate-rate D]
                          [--retry-budget SECONDS] [--max-attempts K]

Prints `inputs`, `created`, `connected`, `rejected`, `failed`, `dead_lettered`,
`duplicates_in_api`, `lost` and `unaccounted` (plus crashes and faults injected, API requests
and seconds). Goal at N=5000: duplicates_in_api = lost = unaccounted = 0. Exit status 1 when a
goal is missed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from local_host.chaos import ChaosConfig, run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    defaults = ChaosConfig()
    parser.add_argument("--fault-rate", type=float, default=defaults.fault_rate)
    parser.add_argument("--crash-rate", type=float, default=defaults.crash_rate)
    parser.add_argument("--duplicate-rate", type=float, default=defaults.duplicate_rate)
    parser.add_argument(
        "--retry-budget", type=float, default=defaults.retry_budget_seconds, metavar="SECONDS"
    )
    parser.add_argument("--max-attempts", type=int, default=defaults.max_attempts)
    args = parser.parse_args()
    # The injected faults and crashes log warnings and errors by design; the report says it all.
    logging.getLogger("referral_relay").setLevel(logging.CRITICAL)
    config = ChaosConfig(
        events=args.events,
        seed=args.seed,
        fault_rate=args.fault_rate,
        crash_rate=args.crash_rate,
        duplicate_rate=args.duplicate_rate,
        retry_budget_seconds=args.retry_budget,
        max_attempts=args.max_attempts,
    )
    report = run(config).to_json()
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:18} {value}")
    missed = report["duplicates_in_api"] or report["lost"] or report["unaccounted"]
    return 1 if missed or not report["finished"] else 0


if __name__ == "__main__":
    sys.exit(main())
