"""Telemetry fixtures: an in-memory capture of every span, log record and metric."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_host.telemetry import Capture, capture


@pytest.fixture
def captured() -> Iterator[Capture]:
    with capture() as c:
        yield c
