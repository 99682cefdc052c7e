"""The composition root: builds the adapters once per worker process and caches them.

In Azure the adapters come from `Settings.from_env()`: the Partner API client with the Secure
Application Model token provider, the Table Storage ledger (and the marks in its table) and the
Service Bus publisher (one `httpx.AsyncClient`, one token provider, one Service Bus client per
process). The local host and
tests install their own `HandlerDeps` with `configure()` (sandbox, in-memory ledger and broker).

Once the first invocation has its dependencies, the heap is frozen (`gc.freeze()`): the modules,
validators and clients that exist then live as long as the worker, and without the freeze every
full collection walks them all, stalling every invocation in flight (about 40 ms per collection
in bench/pipeline.py, a few times per thousand referrals). Reference counting still frees frozen
objects; only the cycle collector skips them.
"""

from __future__ import annotations

import asyncio
import gc

from shared.handlers.common import HandlerConfig, HandlerDeps
from shared.settings import Settings

_deps: HandlerDeps | None = None
_lock: asyncio.Lock | None = None
_heap_frozen = False


def configure(deps: HandlerDeps | None) -> None:
    """Install (or, with None, forget) the dependencies every invocation uses."""
    global _deps
    _deps = deps


async def handler_deps() -> HandlerDeps:
    global _deps, _lock
    if _deps is None:
        if _lock is None:
            _lock = asyncio.Lock()
        async with _lock:
            if _deps is None:
                _deps = await build_from_settings(Settings.from_env())
    if not _heap_frozen:
        freeze_startup_heap()
    return _deps


def freeze_startup_heap() -> None:
    """Collect once, then move every object alive now out of the cycle collector's reach."""
    global _heap_frozen
    _heap_frozen = True
    gc.collect()
    gc.freeze()


def handler_config(settings: Settings) -> HandlerConfig:
    return HandlerConfig(
        max_attempts=settings.max_attempts,
        retry_budget_seconds=settings.retry_budget_seconds,
        claim_ttl_seconds=settings.claim_ttl_seconds,
        # One request's longest run: a claim with less left is not used to POST.
        request_timeout_seconds=(
            settings.http_connect_timeout_seconds + settings.http_read_timeout_seconds
        ),
    )


async def build_from_settings(settings: Settings) -> HandlerDeps:
    """The Azure wiring. Heavy SDKs are imported here, on first use, not at import time."""
    from shared.ledger.marks_table import TableMarks
    from shared.ledger.table import TableLedger
    from shared.partner_api.stack import partner_api_from_settings
    from shared.publishing.servicebus import ServiceBusPublisher

    ledger = TableLedger.from_settings(settings)
    return HandlerDeps(
        api=partner_api_from_settings(settings),
        ledger=ledger,
        marks=TableMarks(ledger),  # the ledger's table and client
        publisher=ServiceBusPublisher.from_settings(settings),
        config=handler_config(settings),
    )
