"""Sustained create rate of the sandbox on loopback (uvicorn, one worker, no injected latency).

    python bench/sandbox.py [--json] [--creates N] [--concurrency 32]

The sandbox runs in its own process (`python -m partner_sandbox`), the driver in this one: 32
tasks, each posting the documented example through a plain `httpx.AsyncClient`, for a warm-up
round and then `--creates` timed creates. Goal: >= 1,000 creates/s, so that the sandbox is never
the bottleneck of the pipeline benchmark.

Two driver shapes are measured in one run:

* `creates_per_s` (the headline): one `AsyncClient` per task (32 connections, one pool each).
* `shared_client_creates_per_s`: all 32 tasks share one `AsyncClient` (one pool of 32
  connections). httpcore 1.0's pool scans every connection on every request, so this shape
  saturates the *client* first; it is reported so the two can be compared.

`server_cpu_ms_per_create` is the sandbox process's CPU per create (psutil): 1000 divided by it
is what one core of sandbox can serve whatever the driver. `driver_cpu_ms_per_create` is the
driver's own: on a 2-core machine the two processes share the cores, so the rate is bounded by
both (and by anything else running).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from partner_sandbox.process import start_sandbox_process

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tests" / "data" / "referral-example-request.json"
PATH = "/v1.0/engagements/referrals"


async def _drive(
    url: str, token: str, body: bytes, creates: int, concurrency: int, shared: bool
) -> tuple[float, float]:
    """(wall seconds, driver CPU seconds) of the timed creates, after a warm-up round."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    timeout = httpx.Timeout(30.0)
    if shared:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        one = httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=timeout)
        clients = [one] * concurrency
    else:
        clients = [
            httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout)
            for _ in range(concurrency)
        ]
    remaining = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            response = await client.post(PATH, content=body)
            if response.status_code not in (200, 201):
                raise SystemExit(f"create failed: HTTP {response.status_code}")

    try:
        remaining = max(concurrency * 20, creates // 10)  # warm-up: connections, caches
        await asyncio.gather(*(worker(c) for c in clients))
        remaining = creates
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(c) for c in clients))
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        for client in set(clients):
            await client.aclose()


def measure(creates: int, concurrency: int) -> dict[str, Any]:
    body = EXAMPLE.read_bytes()
    process, ready = start_sandbox_process()
    try:
        server = psutil.Process(process.pid)
        cpu_before = sum(server.cpu_times()[:2])
        seconds, driver_cpu = asyncio.run(
            _drive(ready["url"], ready["token"], body, creates, concurrency, False)
        )
        warm_up = max(concurrency * 20, creates // 10)
        cpu_per_create = (sum(server.cpu_times()[:2]) - cpu_before) / (creates + warm_up)
        shared_seconds, _ = asyncio.run(
            _drive(ready["url"], ready["token"], body, creates // 2, concurrency, True)
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    return {
        "creates": creates,
        "seconds": round(seconds, 3),
        "creates_per_s": round(creates / seconds, 1),
        "concurrency": concurrency,
        "shared_client_creates_per_s": round(creates // 2 / shared_seconds, 1),
        "server_cpu_ms_per_create": round(cpu_per_create * 1000, 3),
        "driver_cpu_ms_per_create": round(driver_cpu / creates * 1000, 3),
        "goal_creates_per_s": 1000,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--creates", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    result = measure(args.creates, args.concurrency)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['creates']} creates in {result['seconds']} s at concurrency "
        f"{result['concurrency']}: {result['creates_per_s']} creates/s "
        f"(goal >= {result['goal_creates_per_s']}); one shared AsyncClient: "
        f"{result['shared_client_creates_per_s']} creates/s; sandbox CPU "
        f"{result['server_cpu_ms_per_create']} ms per create, driver CPU "
        f"{result['driver_cpu_ms_per_create']} ms per create"
    )


if __name__ == "__main__":
    main()
