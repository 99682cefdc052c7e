"""The chaos run: many referrals through both functions while everything that can fail does.

* The sandbox (served on loopback, reached through the production client, msal token provider
  and HTTP stack) injects every fault kind — 429 with Retry-After, 500, 503, dropped
  connections, hangs, and "lost" answers to requests that took effect — on about `fault_rate`
  of all calls, token endpoint included.
* The worker "dies" between every two handler steps: each checkpoint ("claimed", "posted",
  "recorded", "published") raises `WorkerCrash` with probability `crash_rate`, so the message is
  not settled and comes back when its lock expires.
* `duplicate_rate` of the inputs are published twice, as a publisher resend does: with a new
  MessageId when the body names its externalReferenceId, with the same MessageId otherwise.
* `invalid_rate` of the inputs can never succeed (malformed JSON, wrong shapes, bad values).

Then every input is accounted for from what a CRM sees (the events on the `outcomes`
subscription) against what Partner Center holds (the sandbox's referrals):

* `created` (Independent) / `connected` (Shared): the event, and exactly the referral(s) in the
  sandbox; `rejected`: one `referral-rejected` with field errors; `failed`: `referral-failed`.
* `duplicates_in_api`: referrals beyond one per key, plus Microsoft referrals beyond one per
  engagement. `lost`: inputs with no final event. `unaccounted`: inputs whose events contradict
  each other or the sandbox, and referrals that belong to no input. Goal: all three 0.

Seeded: the inputs, the faults and the crashes follow `seed` (the interleaving of concurrent
invocations still varies from run to run).
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_host.host import WorkerCrash
from local_host.partner import SANDBOX_CLIENT_ID, sandbox_token_provider
from local_host.stack import local_stack
from partner_sandbox import FaultSpec, SandboxConfig, create_app
from partner_sandbox.server import serving
from shared import names
from shared.handlers.common import HandlerConfig
from shared.partner_api.retry import RetryPolicy
from shared.partner_api.stack import build_partner_api

EXAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "referral-example-request.json"
CHECKPOINTS = ("claimed", "posted", "recorded", "published")


@dataclass(frozen=True)
class ChaosConfig:
    events: int = 5000
    seed: int = 1
    fault_rate: float = 0.2  # of all sandbox calls, spread over the six fault kinds
    crash_rate: float = 0.03  # per checkpoint reached
    duplicate_rate: float = 0.1
    invalid_rate: float = 0.1
    shared_ratio: float = 0.5
    no_key_rate: float = 0.1  # valid inputs without externalReferenceId (keyed on MessageId)
    concurrency: int = 16  # per function, as host.json's maxConcurrentCalls
    read_timeout: float = 0.5  # what a hang costs the client
    retry_budget_seconds: float = 3.0
    max_attempts: int = 5
    limit_seconds: float = 3600.0

    def fault_spec(self) -> FaultSpec:
        share = self.fault_rate / 6
        return FaultSpec(
            throttle=share,
            error=share,
            unavailable=share,
            drop=share,
            hang=share,
            lost=share,
            retry_after=0.1,
        )


@dataclass
class Input:
    index: int
    kind: str  # "Shared", "Independent" or "invalid"
    body: bytes
    key: str | None  # externalReferenceId; None: keyed on the MessageId
    message_ids: list[str] = field(default_factory=list)


@dataclass
class ChaosReport:
    inputs: int
    published: int
    created: int
    connected: int
    rejected: int
    failed: int
    failed_with_referral: int  # of `failed`: a referral exists in the sandbox all the same
    dead_lettered: int
    duplicates_in_api: int
    lost: int
    unaccounted: int
    crashes: dict[str, int]
    faults: dict[str, int]
    api_requests: int
    seconds: float
    finished: bool
    problems: list[str]  # the first few inputs lost, unaccounted or failed_with_referral, and why

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


# ---- inputs ----------------------------------------------------------------------------------


def _invalid(rng: random.Random, valid: dict[str, Any], key: str) -> bytes:
    body = copy.deepcopy(valid)
    body["externalReferenceId"] = key
    choice = rng.randrange(8)
    if choice == 0:
        return b'{"name": "truncated'  # not JSON
    if choice == 1:
        return json.dumps([body]).encode()  # JSON, not an object
    if choice == 2:
        del body["customerProfile"]
    elif choice == 3:
        body["customerProfile"]["address"]["country"] = "USA"
    elif choice == 4:
        body["customerProfile"]["team"][0]["email"] = "not-an-email"
    elif choice == 5:
        body["details"]["dealValue"] = "a lot"
    elif choice == 6:
        body["type"] = "Sideways"
    else:
        body["details"]["currency"] = "US$"  # (XXX is a real ISO 4217 code)
    return json.dumps(body).encode()


def make_inputs(config: ChaosConfig) -> list[Input]:
    rng = random.Random(config.seed)  # noqa: S311 - seeded test data, not secrets
    example = json.loads(EXAMPLE.read_text())
    inputs = []
    for i in range(config.events):
        key = f"chaos-{config.seed}-{i:06d}"
        if rng.random() < config.invalid_rate:
            inputs.append(Input(i, "invalid", _invalid(rng, example, key), key))
            continue
        body = copy.deepcopy(example)
        kind = "Shared" if rng.random() < config.shared_ratio else "Independent"
        body["type"] = kind
        keyed = rng.random() >= config.no_key_rate
        if keyed:
            body["externalReferenceId"] = key
        inputs.append(Input(i, kind, json.dumps(body).encode(), key if keyed else None))
    return inputs


def publication_order(config: ChaosConfig, inputs: list[Input]) -> list[tuple[Input, str]]:
    """(input, MessageId) in publishing order; a resend lands up to 40 places after its
    original, so it often meets the original still in flight."""
    rng = random.Random(config.seed + 1)  # noqa: S311 - seeded test data
    placed: list[tuple[float, Input, str]] = []
    for item in inputs:
        first = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        item.message_ids.append(first)
        placed.append((float(item.index), item, first))
        if rng.random() < config.duplicate_rate:
            # A resend: a new MessageId when the body carries its key, else the same one (the
            # queue's duplicate detection then drops it, as in Azure).
            resend = str(uuid.UUID(int=rng.getrandbits(128), version=4)) if item.key else first
            if resend != first:
                item.message_ids.append(resend)
            placed.append((item.index + rng.uniform(0.5, 40.0), item, resend))
    placed.sort(key=lambda entry: entry[0])
    return [(item, message_id) for _, item, message_id in placed]


# ---- crashes ---------------------------------------------------------------------------------


def crasher(rate: float, seed: int) -> tuple[Callable[[str], Any], Counter[str]]:
    rng = random.Random(seed + 2)  # noqa: S311 - seeded fault injection
    crashes: Counter[str] = Counter()

    async def checkpoint(step: str) -> None:
        if rng.random() < rate:
            crashes[step] += 1
            raise WorkerCrash(f"injected after {step}")

    return checkpoint, crashes


# ---- the run ---------------------------------------------------------------------------------


async def run_chaos(config: ChaosConfig) -> ChaosReport:
    inputs = make_inputs(config)
    order = publication_order(config, inputs)
    app = create_app(
        SandboxConfig(
            seed=config.seed,
            faults=config.fault_spec(),
            fault_token_endpoint=True,
            hang_s=config.read_timeout + 0.1,  # just above what the client waits
        )
    )
    checkpoint, crashes = crasher(config.crash_rate, config.seed)
    handler_config = HandlerConfig(
        max_attempts=config.max_attempts,
        retry_budget_seconds=config.retry_budget_seconds,
        claim_ttl_seconds=max(30.0, config.retry_budget_seconds * 4),
        reschedule_base_seconds=1.0,
        # connect paces its look-ups inside the invocation, in real time (the broker's time warp
        # stops while an invocation runs): seconds here, as the sandbox commits at once.
        relookup_delays_seconds=(0.5, 1.0, 2.0),
        holder_poll_seconds=1.0,
    )
    started = time.perf_counter()
    async with serving(app) as ready:
        issued = app.sandbox.tokens.issue_for_user("admin", client_id=SANDBOX_CLIENT_ID)
        api = build_partner_api(
            sandbox_token_provider(ready.authority, issued["refresh_token"]),
            base_url=ready.url,
            retry=RetryPolicy(initial_wait=0.05, max_wait=0.5),
            connect_timeout=1.0,
            read_timeout=config.read_timeout,
        )
        try:
            async with local_stack(
                api, config=handler_config, checkpoint=checkpoint, concurrency=config.concurrency
            ) as stack:
                for item, message_id in order:
                    stack.publish(item.body, message_id=message_id)
                finished = await stack.drain(limit_seconds=config.limit_seconds)
                outcomes = stack.broker.entity(
                    topic=names.EVENTS_TOPIC, subscription=names.OUTCOMES_SUBSCRIPTION
                )
                events = []
                while (message := outcomes.receive()) is not None:
                    events.append(json.loads(message.body))
                    outcomes.complete(message)
                dead_lettered = stack.dead_letters()
        finally:
            await api.aclose()
    stats = app.sandbox.stats()
    seconds = time.perf_counter() - started
    report = account(inputs, events, stats)
    api_routes = ("create", "list", "get", "update", "replace")
    return ChaosReport(
        inputs=len(inputs),
        published=len(order),
        dead_lettered=dead_lettered,
        crashes=dict(crashes),
        faults=dict(stats["faults"]),
        api_requests=sum(sum(stats["requests"].get(r, {}).values()) for r in api_routes),
        seconds=round(seconds, 1),
        finished=finished,
        **report,
    )


# ---- accounting ------------------------------------------------------------------------------


def account(inputs: list[Input], events: list[dict[str, Any]], stats: dict[str, Any]) -> Any:
    """Every input's final state from the CRM's events, checked against the sandbox."""
    referrals = stats["referrals"]
    ours_by_key: dict[str, int] = referrals["byExternalReferenceId"]
    microsoft_by_engagement: dict[str, int] = referrals["microsoftByEngagement"]
    duplicates = sum(n - 1 for n in ours_by_key.values() if n > 1)
    duplicates += sum(n - 1 for n in microsoft_by_engagement.values() if n > 1)

    by_key: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    by_message: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        data = event["data"]
        by_key[str(data.get("idempotencyKey"))].append(event)
        if data.get("messageId"):
            by_message[str(data["messageId"])].append(event)

    counts: Counter[str] = Counter()
    problems: list[str] = []
    known_keys: set[str] = set()

    def note(why: str, item: Input) -> None:
        if len(problems) < 20:
            problems.append(f"input {item.index} ({item.kind}): {why}")

    def trouble(kind: str, item: Input, why: str) -> None:
        counts[kind] += 1
        note(f"{kind}: {why}", item)

    for item in inputs:
        if item.kind == "invalid":
            if item.key:
                known_keys.add(item.key)  # a referral under it is this input's problem below
            seen = [e for m in item.message_ids for e in by_message.get(m, [])]
            types = Counter(e["type"] for e in seen)
            if not seen:
                trouble("lost", item, "no event")
            elif set(types) != {names.REFERRAL_REJECTED} or not all(
                e["data"]["errors"] for e in seen
            ):
                trouble("unaccounted", item, f"events {dict(types)}")
            else:
                counts["rejected"] += 1
            continue
        # A valid input: keyed on its externalReferenceId, or on its (only) MessageId.
        key = item.key or item.message_ids[0]
        known_keys.add(key)
        seen = by_key.get(key, [])
        types = Counter(e["type"] for e in seen)
        ours = ours_by_key.get(key, 0)
        created = [e for e in seen if e["type"] == names.REFERRAL_CREATED]
        connected = [e for e in seen if e["type"] == names.REFERRAL_CONNECTED]
        failed = [e for e in seen if e["type"] == names.REFERRAL_FAILED]
        rejected = [e for e in seen if e["type"] == names.REFERRAL_REJECTED]
        if rejected:
            trouble("unaccounted", item, f"a valid input was rejected: {dict(types)}")
        elif failed:
            # Gave up: allowed, but never after telling the CRM it was connected.
            # Told "failed" although Partner Center holds what was asked for: our referral
            # (failed creating) or Microsoft's (failed connecting). Allowed only with the
            # event's warning that it may exist; without it the CRM is misled.
            engagement = created[0]["data"]["engagementId"] if created else None
            exists = microsoft_by_engagement.get(engagement, 0) if engagement else ours
            warned = all(e["data"].get("referralMayExist") for e in failed)
            stage = failed[0]["data"].get("stage")
            if connected or (created and item.kind == "Independent"):
                trouble("unaccounted", item, f"failed after succeeding: {dict(types)}")
            elif exists and not warned:
                trouble("unaccounted", item, f"failed at {stage} without referralMayExist")
            else:
                counts["failed"] += 1
                if exists:
                    counts["failed_with_referral"] += 1
                    note(f"failed at {stage}, but the referral exists (flagged)", item)
        elif not created:
            trouble("lost", item, f"no final event (sandbox holds {ours})")
        elif len({e["data"]["referralId"] for e in created}) != 1 or ours != 1:
            trouble("unaccounted", item, f"created {len(created)}x, sandbox holds {ours}")
        elif item.kind == "Independent":
            counts["created"] += 1
        elif not connected:
            trouble("lost", item, "created, never connected nor failed")
        else:
            engagement = created[0]["data"]["engagementId"]
            if microsoft_by_engagement.get(engagement, 0) != 1 or any(
                e["data"]["engagementId"] != engagement for e in connected
            ):
                trouble("unaccounted", item, "the connected referral does not match the sandbox")
            else:
                counts["connected"] += 1
    orphans = [k for k in ours_by_key if k not in known_keys]
    if orphans:
        counts["unaccounted"] += len(orphans)
        problems.append(f"unaccounted: {len(orphans)} referral key(s) no input published")
    return {
        "created": counts["created"],
        "connected": counts["connected"],
        "rejected": counts["rejected"],
        "failed": counts["failed"],
        "failed_with_referral": counts["failed_with_referral"],
        "duplicates_in_api": duplicates,
        "lost": counts["lost"],
        "unaccounted": counts["unaccounted"],
        "problems": problems,
    }


def run(config: ChaosConfig) -> ChaosReport:
    return asyncio.run(run_chaos(config))
