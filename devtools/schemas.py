"""JSON Schemas generated from the contract models; committed under `schemas/`.

Dev-only (not deployed): the functions validate with the models themselves. A test regenerates
the schemas and fails when the committed files drift from the models.

`$id` is a URN (`urn:referral-relay:schema:<name>`): a stable, location-free name that a
publisher's tooling can reference without the project having to host the files anywhere; the
file itself lives at `schemas/<name>.schema.json` in the repository.
"""

from __future__ import annotations

import json
from typing import Any, Final

from pydantic import BaseModel

from shared.contracts.events import EVENT_MODELS
from shared.contracts.referral import ReferralRequest
from shared.contracts.update import UpdateRequest

REQUEST_SCHEMA: Final = "referral-request"
UPDATE_SCHEMA: Final = "referral-update"
ID_PREFIX: Final = "urn:referral-relay:schema:"

# What the request schema cannot express: intake reads the body as Partner Center's binder does.
REQUEST_DESCRIPTION: Final = (
    "A Partner Center create-referral body, the message body on the referral-requests queue. "
    "This schema describes the canonical form the relay POSTs. The relay also accepts what "
    "Partner Center's binder reads: member names in any case (normalised to the camelCase "
    "shown here), \"\" and null as 'not given', {} for an empty array, numeric strings for "
    'numbers, "true"/"false" for booleans, enum names and ISO codes in any case, '
    "timestamps without an offset (UTC). x-source names where Microsoft documents each property "
    "(docs/partner-center-api.md)."
)


UPDATE_DESCRIPTION: Final = (
    "An update of one existing referral, the message body on the referral-updates queue: "
    "referralId or externalReferenceId names it, the other members carry what changed, in the "
    "wire names of a create body (only what Partner Center lets a PATCH change), and "
    "sourceUpdatedAt orders updates (an older one than the last applied is skipped). Read as a "
    "create body is: member names in any case, \"\" and null as 'not given', numeric strings "
    "for numbers, codes in any case, timestamps without an offset (UTC)."
)


def _models() -> dict[str, type[BaseModel]]:
    return {REQUEST_SCHEMA: ReferralRequest, UPDATE_SCHEMA: UpdateRequest, **EVENT_MODELS}


SCHEMA_NAMES: Final[tuple[str, ...]] = tuple(_models())


def json_schema(name: str = REQUEST_SCHEMA) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one contract. Raises KeyError for an unknown name."""
    model = _models()[name]
    schema = model.model_json_schema(mode="validation")
    if name == REQUEST_SCHEMA:
        schema["description"] = REQUEST_DESCRIPTION
    if name == UPDATE_SCHEMA:
        schema["description"] = UPDATE_DESCRIPTION
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{ID_PREFIX}{name}",
        **schema,
    }


def render(name: str) -> str:
    """The exact text committed as `schemas/<name>.schema.json`."""
    return json.dumps(json_schema(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
