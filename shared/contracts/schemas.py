"""JSON Schemas generated from the contract models; committed under `schemas/`.

A test regenerates them and fails when the committed files drift from the models.
"""

from __future__ import annotations

import json
from typing import Any, Final

from pydantic import BaseModel

from shared.contracts.events import EVENT_MODELS
from shared.contracts.referral import ReferralRequest

REQUEST_SCHEMA: Final = "referral-request"
_BASE_ID: Final = "https://github.com/referral-relay/referral-relay/schemas/"


def _models() -> dict[str, type[BaseModel]]:
    return {REQUEST_SCHEMA: ReferralRequest, **EVENT_MODELS}


SCHEMA_NAMES: Final[tuple[str, ...]] = tuple(_models())


def json_schema(name: str = REQUEST_SCHEMA) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one contract. Raises KeyError for an unknown name."""
    model = _models()[name]
    schema = model.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_BASE_ID}{name}.schema.json",
        **schema,
    }


def render(name: str) -> str:
    """The exact text committed as `schemas/<name>.schema.json`."""
    return json.dumps(json_schema(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
