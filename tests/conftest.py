"""Fixtures shared by every test folder."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

# Copies of the documented examples (the team folder is not part of a clone); a test checks them
# against the team folder when it sits beside the clone.
DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parents[1]

REQUEST_EXAMPLE: dict[str, Any] = json.loads((DATA / "referral-example-request.json").read_text())
RESPONSE_EXAMPLE: dict[str, Any] = json.loads((DATA / "referral-example-response.json").read_text())


@pytest.fixture
def request_example() -> dict[str, Any]:
    return copy.deepcopy(REQUEST_EXAMPLE)


@pytest.fixture
def response_example() -> dict[str, Any]:
    return copy.deepcopy(RESPONSE_EXAMPLE)
