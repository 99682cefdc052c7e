"""The sandbox against a description of Microsoft's resource that the project wrote from the
connector swagger and the docs (`partner-center-referral.schema.json`, independent of
`partner_sandbox/`): every answer has the shape (nulls allowed), and bodies generated from the
description's writable part are accepted."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from partner_sandbox import SandboxConfig, create_app
from partner_sandbox.transport import SandboxTransport
from tests.conftest import REQUEST_EXAMPLE

SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).parent / "partner-center-referral.schema.json").read_text()
)
RESOURCE = Draft202012Validator(SCHEMA)
REFERRALS = "/v1.0/engagements/referrals"

# Not part of a create body: what the server sets ([swagger] readOnly; ids, timestamps, links
# and organisation per the docs' responses), status/substatus (constrained by the status table;
# the server answers Active/Accepted anyway) and engagementId (must name an existing engagement).
NOT_GENERATED = {
    "id",
    "eTag",
    "createdDateTime",
    "updatedDateTime",
    "acceptedDateTime",
    "closedDateTime",
    "organizationId",
    "organizationName",
    "direction",
    "links",
    "isSpam",
    "quality",
    "tags",
    "registrations",
    "lastModifiedVia",
    "lastRunId",
    "createdVia",
    "dealSensitivity",
    "status",
    "substatus",
    "engagementId",
}
# [docs] create-a-referral (2024): ReferralType, CustomerProfile, Consent, Details "Required".
REQUIRED = ["type", "customerProfile", "consent", "details"]


def request_schema() -> dict[str, Any]:
    properties = {
        name: copy.deepcopy(shape)
        for name, shape in SCHEMA["properties"].items()
        if name not in NOT_GENERATED
    }
    for name in REQUIRED:  # present and not null
        shape = properties[name]
        if "enum" in shape:
            shape["enum"] = [v for v in shape["enum"] if v is not None]
        else:
            shape["type"] = "object"
    properties["customerProfile"]["properties"].pop("isMatchingComplete")  # server-written
    return {
        "type": "object",
        "properties": properties,
        "required": REQUIRED,
        "additionalProperties": False,
    }


JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
ANY_JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
LEAVES: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=20),
    "boolean": st.booleans(),
    "number": st.integers(-(10**9), 10**9) | st.floats(allow_nan=False, allow_infinity=False),
    "null": st.none(),
}


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of the subset of JSON Schema the description uses (type lists, enum, properties
    with required, items, `{}` for any JSON). hypothesis-jsonschema 0.23.1, the current release,
    fails on the pinned hypothesis 6.170 ('many' object has no attribute 'more'), so the project
    builds the strategy itself."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    types = schema.get("type")
    if types is None:
        return ANY_JSON
    options: list[st.SearchStrategy[Any]] = []
    for kind in [types] if isinstance(types, str) else types:
        if kind == "object":
            properties = schema.get("properties", {})
            required = set(schema.get("required", ()))
            options.append(
                st.fixed_dictionaries(
                    {k: from_schema(v) for k, v in properties.items() if k in required},
                    optional={
                        k: from_schema(v) for k, v in properties.items() if k not in required
                    },
                )
            )
        elif kind == "array":
            item = from_schema(schema["items"]) if "items" in schema else ANY_JSON
            options.append(st.lists(item, max_size=3))
        else:
            options.append(LEAVES[kind])
    return st.one_of(options)


class Client:
    """A synchronous face on an in-process httpx client (hypothesis drives sync tests)."""

    def __init__(self) -> None:
        app = create_app(SandboxConfig(seed=5))
        self._loop = asyncio.new_event_loop()
        self._http = httpx.AsyncClient(
            transport=SandboxTransport(app),
            base_url="http://sandbox.test",
            headers={"Authorization": f"Bearer {app.sandbox.token('admin', lifetime_s=86400)}"},
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._http.request(method, url, **kwargs))

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._http.aclose())
        self._loop.close()


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    opened = Client()
    yield opened
    opened.close()


def problems(instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in RESOURCE.iter_errors(instance)
    ]


def test_the_description_is_a_valid_schema_with_every_real_key() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert len(SCHEMA["required"]) == 42


def test_every_answer_has_the_resource_shape(client: Client) -> None:
    created = client.post(REFERRALS, json=REQUEST_EXAMPLE)
    assert created.status_code == 200
    assert problems(created.json()) == []

    got = client.get(f"{REFERRALS}/{created.json()['id']}")
    patched = client.patch(
        f"{REFERRALS}/{created.json()['id']}",
        json=[
            {"op": "add", "path": "/team/-", "value": {"email": "jane.doe@contoso.com"}},
            {"op": "add", "path": "/registrations/-", "value": {"type": "ISV"}},
        ],
        headers={"Prefer": "return=representation"},
    )
    listed = client.get(REFERRALS)

    for answer in (got.json(), patched.json(), *listed.json()["value"]):
        assert problems(answer) == []


def test_the_check_can_fail() -> None:
    assert problems({"id": 5}) != []  # wrong type, 41 keys missing


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=from_schema(request_schema()))
def test_bodies_generated_from_the_description_are_accepted(
    client: Client, body: dict[str, Any]
) -> None:
    response = client.post(REFERRALS, json=body)

    assert response.status_code == 200, response.text
    created = response.json()
    assert problems(created) == []
    assert created["type"] == body["type"]
    for name in ("name", "campaignId", "mpnId", "salesStage"):
        if body.get(name) is not None:
            assert created[name] == body[name]
