"""Pipeline throughput against the latency-bound limit and against a bare httpx client.

    python bench/pipeline.py [--events N] [--latency-ms L] [--concurrency C]
                             [--shared-ratio R] [--seed S] [--telemetry] [--json]

The sandbox runs in its own process (`python -m partner_sandbox --latency-ms L`, uvicorn on
loopback), so its CPU is not counted as ours and it has a core of its own. This process then
runs, one after the other in the same run, against the same sandbox:

1. **bare**: a plain `httpx.AsyncClient` (one pool of C keep-alive connections), C tasks, each
   making the sequence of API calls one referral needs — POST ours; for a Shared referral also
   GET it, list its engagement and POST Microsoft's — with the sandbox's bearer token.
2. **pipeline**: N referrals through the local host's `referral-requests` queue and the real
   functions of `function_app` (envelope, validation, ledger, Partner API client with the msal
   token provider, events, the connect function), with C invocation slots shared by both
   functions, so that at most C API calls are in flight, as in the bare run. A steady publisher
   keeps 4 x C inputs queued or in flight (one more per finished input), as a CRM feeding the
   queue would, instead of N messages up front.

Each phase starts with an untimed warm-up (imports, pydantic validators, connections), then
times N referrals. Figures (one JSON line with `--json`):

* `limit_referrals_per_s` = C / (API calls per referral × L), with the calls the pipeline
  actually made (from the sandbox's request counts); `ratio_to_limit` = measured / limit.
* `bare_httpx_referrals_per_s` and `ratio_to_bare_httpx`.
* `cpu_us_per_referral`: this process's CPU time (user + system) per referral, pipeline phase.
* `token_requests`: token endpoint requests over the whole run (cold cache, C callers: 1).
* `rss_mb_start` (after the warm-up) / `rss_mb_end`; with N ≥ 4000 also `rss_mb_at_2000` and
  `rss_growth_from_2000` (RSS after 2,000 referrals vs the end).
* `--telemetry`: OpenTelemetry on (the local SDK pipeline: real spans, logs and metrics, no
  exporter), to see what tracing costs per referral.

The local host's in-memory stand-ins for Azure services (the ledger rows of finished
referrals, the events kept by the publisher and the `outcomes` subscription, the invocation log
and the broker's duplicate-detection ids) are trimmed as the run goes: in Azure that state lives
in Table Storage and Service Bus, not in the worker, and keeping it would make the RSS figure
measure the harness.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from local_host.partner import PartnerConnection, SandboxEndpoints, connect_sandbox  # noqa: E402
from local_host.stack import LocalStack, local_stack  # noqa: E402
from partner_sandbox.process import start_sandbox_process  # noqa: E402
from shared import names  # noqa: E402
from shared.ledger.memory import InMemoryLedger  # noqa: E402
from shared.ledger.port import Scope  # noqa: E402
from shared.telemetry import outcomes  # noqa: E402
from shared.telemetry.outcomes import Invocation, OutcomeView  # noqa: E402

EXAMPLE = ROOT / "tests" / "data" / "referral-example-request.json"
COLLECTION = "/v1.0/engagements/referrals"
API_ROUTES = ("create", "list", "get", "update", "replace")
MICROSOFT_TARGET = {"type": "BusinessProfileLocation", "id": "msft"}
COPIED = ("name", "customerProfile", "consent", "details", "team", "qualification")
MB = 1024 * 1024
BACKLOG_PER_SLOT = 4


# ---- the sandbox process -------------------------------------------------------------------


async def sandbox_stats(http: httpx.AsyncClient, admin: str) -> dict[str, Any]:
    response = await http.get(f"{admin}/stats")
    response.raise_for_status()
    stats: dict[str, Any] = response.json()
    return stats


def api_calls(stats: dict[str, Any]) -> int:
    requests = stats["requests"]
    return sum(sum(requests.get(route, {}).values()) for route in API_ROUTES)


def token_requests(stats: dict[str, Any]) -> int:
    return sum(stats["tokenRequests"].values())


# ---- inputs --------------------------------------------------------------------------------


def make_bodies(prefix: str, count: int, shared_ratio: float, seed: int) -> Iterator[bytes]:
    """`count` valid create bodies, each with its own externalReferenceId; a seeded share of
    them Shared (co-sell: our referral plus Microsoft's), the rest Independent. Made on demand
    from two serialized templates, so the harness neither holds N bodies nor spends CPU on them
    in the timed phase."""
    example = json.loads(EXAMPLE.read_text())
    templates = {}
    for kind in ("Shared", "Independent"):
        example.update(type=kind, externalReferenceId="@KEY@")
        templates[kind] = json.dumps(example).encode()
    rng = random.Random(seed)
    for i in range(count):
        kind = "Shared" if rng.random() < shared_ratio else "Independent"
        yield templates[kind].replace(b"@KEY@", f"{prefix}-{i:06d}".encode())


# ---- phase 1: the bare client --------------------------------------------------------------


async def bare_httpx(url: str, token: str, bodies: Iterator[bytes], concurrency: int) -> float:
    """Seconds for C tasks on one plain AsyncClient to make the API calls of `bodies`."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=httpx.Timeout(30.0)
    ) as client:

        async def one(body: bytes) -> None:
            created = await _ok(await client.post(COLLECTION, content=body))
            if created.get("type") != "Shared":
                return
            ours = await _ok(await client.get(f"{COLLECTION}/{created['id']}"))
            engagement = ours["engagementId"]
            page = await _ok(
                await client.get(COLLECTION, params={"$filter": f"engagementId eq '{engagement}'"})
            )
            if any(MICROSOFT_TARGET in r.get("target", []) for r in page["value"]):
                return
            microsoft = {k: ours[k] for k in COPIED if ours.get(k) is not None}
            microsoft.update(type="Shared", engagementId=engagement, target=[MICROSOFT_TARGET])
            await _ok(await client.post(COLLECTION, json=microsoft))

        async def worker() -> None:
            for body in bodies:
                await one(body)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


async def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code not in (200, 201):
        raise SystemExit(f"bare client: HTTP {response.status_code} from the sandbox")
    data: dict[str, Any] = response.json()
    return data


# ---- phase 2: the pipeline -----------------------------------------------------------------


@dataclass
class Progress:
    """Counts finished inputs from the invocation stream; trims the harness's memory."""

    stack: LocalStack | None = None
    finished: int = 0
    by_outcome: Counter[str] | None = None
    rss_at: dict[int, float] | None = None
    trim_every: int = 500
    feed: Iterator[bytes] | None = None  # the next inputs: one published per finished one

    def __post_init__(self) -> None:
        self.by_outcome = Counter()
        self.rss_at = {}

    def observe(self, invocation: Invocation) -> None:
        outcome = invocation.outcome
        if outcome is None or outcome.kind == "rescheduled":
            return
        assert self.by_outcome is not None
        if invocation.function == "create_referral":
            if outcome.kind == "created" and outcome.referral_type == "Shared":
                return  # finished when connected
            self._finish(outcome.kind, outcome)
        elif outcome.kind != "skipped":
            self._finish(outcome.kind, outcome)

    def _finish(self, kind: str, outcome: OutcomeView) -> None:
        assert self.by_outcome is not None
        assert self.rss_at is not None
        self.by_outcome[kind] += 1
        self.finished += 1
        if self.stack is not None:
            self._forget(self.stack, outcome)
            if self.finished % self.trim_every == 0:
                self._trim(self.stack)
            if self.feed is not None and (body := next(self.feed, None)) is not None:
                self.stack.publish(body)
        if self.finished == 2000:
            self.rss_at[2000] = rss_mb()

    @staticmethod
    def _forget(stack: LocalStack, outcome: OutcomeView) -> None:
        ledger = stack.ledger
        assert isinstance(ledger, TrimmedLedger)
        ledger.forget(Scope.CREATE, outcome.key)
        if outcome.engagement_id:
            ledger.forget(Scope.CONNECT, outcome.engagement_id)

    @staticmethod
    def _trim(stack: LocalStack) -> None:
        stack.publisher.events.clear()
        stack.log.invocations.clear()
        outcomes_sub = stack.broker.entity(
            topic=names.EVENTS_TOPIC, subscription=names.OUTCOMES_SUBSCRIPTION
        )
        while (message := outcomes_sub.receive()) is not None:  # what the CRM would read
            outcomes_sub.complete(message)
        # Service Bus forgets MessageIds after its duplicate detection window; the in-memory
        # broker keeps them for its life (no input is published twice here).
        for seen in stack.broker._seen.values():
            seen.clear()


class TrimmedLedger(InMemoryLedger):
    """The in-memory ledger, minus the rows of finished referrals: nothing reads them again in
    this run (no redelivery), and in Azure they live in Table Storage, not in the worker."""

    def forget(self, scope: Scope, key: str) -> None:
        self._records.pop((scope, key), None)


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / MB


async def pipeline(
    partner: PartnerConnection, bodies: Iterator[bytes], warmup: Iterator[bytes], concurrency: int
) -> dict[str, Any]:
    progress = Progress()
    unsubscribe = outcomes.subscribe(progress.observe)
    try:
        async with local_stack(
            partner.api, concurrency=concurrency, ledger=TrimmedLedger()
        ) as stack:
            progress.stack = stack
            stack.host.shared_slots = True  # C slots for both functions: C calls in flight
            for body in warmup:
                stack.publish(body)
            if not await stack.drain():
                raise SystemExit("the warm-up did not finish")
            Progress._trim(stack)
            progress.finished = 0
            assert progress.by_outcome is not None
            progress.by_outcome.clear()
            rss_start = rss_mb()
            before = await sandbox_stats(partner.http, _admin(partner))
            cpu_before = time.process_time()
            started = time.perf_counter()
            # A steady publisher: BACKLOG inputs queued or in flight, one more per finished one.
            progress.feed = bodies
            for body in itertools.islice(bodies, BACKLOG_PER_SLOT * concurrency):
                stack.publish(body)
            finished = await stack.drain(limit_seconds=3600)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu_before
            rss_end = rss_mb()  # before the stats: they list every referral the sandbox holds
            after = await sandbox_stats(partner.http, _admin(partner))
            dead = stack.dead_letters()
    finally:
        unsubscribe()
    return {
        "finished": finished,
        "seconds": seconds,
        "cpu": cpu,
        "api_calls": api_calls(after) - api_calls(before),
        "token_requests": token_requests(after),
        "outcomes": dict(progress.by_outcome or {}),
        "inputs_finished": progress.finished,
        "dead_letters": dead,
        "rss_mb_start": rss_start,
        "rss_mb_end": rss_end,
        "rss_at": dict(progress.rss_at or {}),
    }


def _admin(partner: PartnerConnection) -> str:
    assert partner.sandbox is not None
    return partner.sandbox.admin


# ---- the run -------------------------------------------------------------------------------


async def measure_async(
    ready: dict[str, str],
    events: int,
    latency_ms: float,
    concurrency: int,
    ratio: float,
    seed: int,
    telemetry: bool = False,
) -> dict[str, Any]:
    warm = max(2 * concurrency, events // 20)
    bare_seconds = await bare_httpx(
        ready["url"], ready["token"], make_bodies("warm-bare", warm, ratio, seed + 1), concurrency
    )
    bare_seconds = await bare_httpx(
        ready["url"], ready["token"], make_bodies("bare", events, ratio, seed), concurrency
    )
    if telemetry:  # real spans, logs and metrics, exported nowhere: their CPU is what counts
        from local_host.telemetry import install_local

        install_local()
    partner = await connect_sandbox(
        SandboxEndpoints(url=ready["url"], authority=ready["authority"], admin=ready["admin"])
    )
    try:
        run = await pipeline(
            partner,
            make_bodies("pipe", events, ratio, seed),
            make_bodies("warm-pipe", warm, ratio, seed + 1),
            concurrency,
        )
    finally:
        await partner.aclose()
    if not run["finished"] or run["inputs_finished"] != events:
        raise SystemExit(f"the pipeline did not finish every input: {run}")
    seconds = run["seconds"]
    calls_per_referral = run["api_calls"] / events
    # No latency: no latency bound (the figures then show the CPU-bound rate).
    limit = concurrency / (calls_per_referral * latency_ms / 1000.0) if latency_ms > 0 else None
    rate = events / seconds
    bare_rate = events / bare_seconds
    result: dict[str, Any] = {
        "events": events,
        "seconds": round(seconds, 3),
        "referrals_per_s": round(rate, 1),
        "api_calls": run["api_calls"],
        "api_calls_per_referral": round(calls_per_referral, 3),
        "limit_referrals_per_s": round(limit, 1) if limit else None,
        "ratio_to_limit": round(rate / limit, 3) if limit else None,
        "bare_httpx_referrals_per_s": round(bare_rate, 1),
        "ratio_to_bare_httpx": round(rate / bare_rate, 3),
        "cpu_us_per_referral": round(run["cpu"] / events * 1e6, 1),
        "token_requests": run["token_requests"],
        "rss_mb_start": round(run["rss_mb_start"], 1),
        "rss_mb_end": round(run["rss_mb_end"], 1),
        "outcomes": run["outcomes"],
        "dead_letters": run["dead_letters"],
        "latency_ms": latency_ms,
        "concurrency": concurrency,
        "shared_ratio": ratio,
        "telemetry": telemetry,
        "cpus": os.cpu_count(),
    }
    if 2000 in run["rss_at"] and events >= 4000:
        at = run["rss_at"][2000]
        result["rss_mb_at_2000"] = round(at, 1)
        result["rss_growth_from_2000"] = round(run["rss_mb_end"] / at - 1, 3)
    return result


def measure(
    events: int,
    latency_ms: float,
    concurrency: int,
    ratio: float,
    seed: int,
    telemetry: bool = False,
) -> dict[str, Any]:
    process, ready = start_sandbox_process("--latency-ms", f"{latency_ms:g}", "--seed", str(seed))
    try:
        return asyncio.run(
            measure_async(ready, events, latency_ms, concurrency, ratio, seed, telemetry)
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--shared-ratio", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--telemetry", action="store_true", help="OpenTelemetry on (local SDK, no exporter)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    result = measure(
        args.events,
        args.latency_ms,
        args.concurrency,
        args.shared_ratio,
        args.seed,
        args.telemetry,
    )
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
