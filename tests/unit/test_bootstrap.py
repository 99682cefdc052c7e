"""The composition root: the dependencies it hands out, and the heap freeze after the first."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any, cast

import pytest

from shared import bootstrap
from shared.handlers.common import HandlerDeps
from shared.ledger.memory import InMemoryLedger
from shared.publishing.memory import InMemoryPublisher


@pytest.fixture
def deps() -> Iterator[HandlerDeps]:
    installed = HandlerDeps(
        api=cast(Any, object()), ledger=InMemoryLedger(), publisher=InMemoryPublisher()
    )
    bootstrap.configure(installed)
    yield installed
    bootstrap.configure(None)


class Node:
    """A container the cycle collector tracks."""

    def __init__(self) -> None:
        self.me = self


async def test_the_first_call_freezes_what_exists_and_later_calls_freeze_nothing(
    deps: HandlerDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bootstrap, "_heap_frozen", False)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0

    assert await bootstrap.handler_deps() is deps
    frozen = gc.get_freeze_count()
    assert frozen > 0

    Node()  # garbage made after the freeze is still the collector's
    assert await bootstrap.handler_deps() is deps
    assert gc.get_freeze_count() == frozen
    assert gc.collect() >= 1  # the cycle above, found and freed
