"""Fuzz (design §8): generated malformed bodies and Service Bus properties, through the local
host and the real `create_referral` function. No worker crash, no retry, no dead letter, no API
call: each message yields exactly one `referral-rejected` with field-level errors."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from local_host.stack import local_stack
from shared import names
from shared.contracts.referral import Referral
from tests.conftest import REQUEST_EXAMPLE

# Bounded so that `make test` stays fast; every example is one message through the local host.
EXAMPLES = 150


class NoApi:
    """A Partner API that must never be called: a malformed message is rejected before it."""

    def __init__(self) -> None:
        self.calls = 0

    def _called(self) -> AssertionError:
        self.calls += 1
        return AssertionError("the Partner API was called for a malformed message")

    async def create_referral(self, body: Any, **_: Any) -> Referral:
        raise self._called()

    async def get_referral(self, referral_id: str, **_: Any) -> Referral:
        raise self._called()

    def list_referrals(self, **_: Any) -> Any:
        raise self._called()

    async def patch_referral(self, referral_id: str, operations: Any, **_: Any) -> None:
        raise self._called()


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
# Integers are not here: Partner Center's binder (and so intake) reads a number into a string.
not_a_string: st.SearchStrategy[Any] = (
    st.booleans() | st.lists(json_scalars, max_size=3) | st.just({})
)

# Fields of the documented example, each with a value that can never be valid there. Intake reads
# as Partner Center does (docs/partner-center-api.md): "" is "not given", enum names and ISO codes
# bind in any case and around white space, so those are not "wrong".
REQUIRED = ("type", "customerProfile", "consent", "details")
WRONG: dict[tuple[str | int, ...], st.SearchStrategy[Any]] = {
    ("name",): not_a_string,
    ("type",): st.text().filter(lambda t: t.strip().lower() not in ("independent", "shared")),
    ("customerProfile",): json_scalars | st.lists(json_scalars, max_size=2),
    ("customerProfile", "address", "country"): st.text().filter(
        lambda t: len(t.strip()) != 2 or not t.strip().isalpha() or not t.strip().isascii()
    ),
    ("customerProfile", "team"): json_scalars.filter(lambda v: v is not None),
    ("customerProfile", "team", 0, "email"): st.text(max_size=20).filter(
        lambda t: "@" not in t and t.strip() != ""
    ),
    ("details", "currency"): st.text(max_size=6).filter(
        lambda t: t.strip() != "" and (len(t.strip()) != 3 or not t.strip().isalpha())
    ),
    ("details", "dealValue"): st.lists(json_scalars, max_size=2) | st.just({}),
    ("consent",): json_scalars.filter(lambda v: v is not None),
    ("externalReferenceId",): not_a_string,
}


def _set(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    node: Any = body
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return body


@st.composite
def broken_examples(draw: st.DrawFn) -> bytes:
    """The documented example with one field missing or of a value it can never take."""
    body = copy.deepcopy(REQUEST_EXAMPLE)
    if draw(st.booleans()):
        del body[draw(st.sampled_from(REQUIRED))]
    else:
        path = draw(st.sampled_from(sorted(WRONG, key=str)))
        _set(body, path, draw(WRONG[path]))
    return json.dumps(body).encode()


def _deep(levels: int) -> bytes:
    return ("[" * levels + "]" * levels).encode()


bodies = st.one_of(
    st.binary(max_size=300),  # not UTF-8, not JSON, or JSON of the wrong shape
    json_values.filter(lambda v: not isinstance(v, dict)).map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5).map(
        lambda v: json.dumps(v).encode()
    ),
    broken_examples(),
    st.integers(min_value=40, max_value=200).map(_deep),
)
property_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40)
)
properties = st.dictionaries(
    st.sampled_from(
        [
            names.PROP_ATTEMPT,
            names.PROP_WAITS,
            names.PROP_ORIGINAL_MESSAGE_ID,
            names.PROP_SOURCE,
            names.PROP_TRACEPARENT,
            names.PROP_DIAGNOSTIC_ID,
            "x-anything",
        ]
    ),
    property_values,
    max_size=5,
)
message_ids = st.none() | st.text(max_size=60)


async def _through_the_host(
    body: bytes, props: dict[str, Any], message_id: str | None, correlation_id: str | None
) -> None:
    api = NoApi()
    async with local_stack(api, concurrency=2) as stack:  # type: ignore[arg-type]
        stack.publish(body, message_id=message_id, correlation_id=correlation_id, properties=props)
        assert await stack.drain(limit_seconds=30)
        events = stack.publisher.events
        assert [e.type for e in events] == [names.REFERRAL_REJECTED]
        data = json.loads(events[0].body)["data"]
        assert data["stage"] == "validation"
        assert data["errors"]
        for error in data["errors"]:
            assert error["path"] == "" or error["path"].startswith("/")
            assert error["code"]
            assert error["message"]
        (invocation,) = stack.log.invocations
        assert invocation.error is None  # the worker did not crash: it returned
        assert invocation.outcome is not None
        assert invocation.outcome.kind == "rejected"
        assert invocation.settled == "complete"
        assert stack.dead_letters() == 0
        assert stack.publisher.scheduled == []
        assert api.calls == 0


def test_a_body_over_the_service_bus_size_limit_is_rejected() -> None:
    asyncio.run(_through_the_host(b" " * (256 * 1024 + 1), {}, None, None))


@settings(max_examples=EXAMPLES, deadline=None)
@given(bodies, properties, message_ids, message_ids)
def test_every_malformed_message_is_rejected_once_with_field_errors(
    body: bytes, props: dict[str, Any], message_id: str | None, correlation_id: str | None
) -> None:
    asyncio.run(_through_the_host(body, props, message_id or None, correlation_id or None))
