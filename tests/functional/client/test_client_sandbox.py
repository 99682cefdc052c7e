"""The Partner API client against the in-process sandbox: the happy paths and every error kind."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from partner_sandbox import FaultSpec, SandboxApp, SandboxConfig, create_app
from partner_sandbox.faults import Fault
from shared.partner_api.errors import (
    AccessDenied,
    ConfigurationError,
    InvalidRequest,
    NetworkError,
    NotFound,
    PermanentError,
    PreconditionFailed,
    RequestTimedOut,
    ServiceUnavailable,
    Throttled,
    Unauthenticated,
)
from shared.partner_api.odata import eq, guid_eq
from tests.functional.client.conftest import Rig

CORRELATION = "2b5f4a8e-8d0c-4a5e-9a7a-6f3e0c1d2b9a"


def with_external_id(body: dict[str, Any], external_id: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body["externalReferenceId"] = external_id
    return body


async def listed(rig: Rig, filter: str | None, **kwargs: Any) -> list[Any]:
    return [
        r
        async for r in rig.client.list_referrals(
            filter=filter, correlation_id=CORRELATION, deadline=rig.deadline(), **kwargs
        )
    ]


async def test_create_get_list_and_patch_round_trip(
    rig: Rig, request_example: dict[str, Any]
) -> None:
    body = with_external_id(request_example, "crm-O'Brien-42")

    created = await rig.client.create_referral(
        body, correlation_id=CORRELATION, deadline=rig.deadline(), retry_ambiguous=False
    )
    assert created.id is not None
    fetched = await rig.client.get_referral(
        created.id, correlation_id=CORRELATION, deadline=rig.deadline()
    )
    found = await listed(rig, eq("externalReferenceId", "crm-O'Brien-42").render())
    by_engagement = await listed(rig, guid_eq("engagementId", str(created.engagementId)).render())
    updated = await rig.client.patch_referral(
        created.id,
        [{"op": "replace", "path": "/details/notes", "value": "updated by the relay"}],
        etag=fetched.eTag,
        return_representation=True,
        correlation_id=CORRELATION,
        deadline=rig.deadline(),
    )

    assert fetched.externalReferenceId == "crm-O'Brien-42"
    assert [r.id for r in found] == [created.id]
    assert [r.id for r in by_engagement] == [created.id]
    assert updated is not None
    assert updated.details is not None
    assert updated.details["notes"] == "updated by the relay"
    assert updated.eTag != fetched.eTag


async def test_a_quote_in_the_filter_value_cannot_widen_the_query(
    rig: Rig, request_example: dict[str, Any]
) -> None:
    for external_id in ("crm-1", "crm-2"):
        await rig.client.create_referral(
            with_external_id(request_example, external_id),
            correlation_id=CORRELATION,
            deadline=rig.deadline(),
            retry_ambiguous=False,
        )

    hostile = await listed(
        rig, eq("externalReferenceId", "x' or externalReferenceId ne 'x").render()
    )

    assert hostile == []


async def test_list_follows_next_links_across_pages(
    make_rig: Callable[..., Rig], request_example: dict[str, Any]
) -> None:
    rig = make_rig(create_app(SandboxConfig(seed=1, page_size=2)))
    for n in range(5):
        await rig.client.create_referral(
            with_external_id(request_example, f"crm-{n}"),
            correlation_id=CORRELATION,
            deadline=rig.deadline(),
            retry_ambiguous=False,
        )

    everything = await listed(rig, eq("type", "Shared").render(), orderby="createdDateTime asc")

    assert [r.externalReferenceId for r in everything] == [f"crm-{n}" for n in range(5)]
    assert rig.app.sandbox.stats()["requests"]["list"] == {"200": 3}


async def test_an_invalid_body_is_an_invalid_request_with_field_errors(rig: Rig) -> None:
    # The sandbox refuses what cannot bind (an array for a string) and missing required objects.
    body = {"type": "Shared", "customerProfile": {"address": {"country": ["USA"]}}}

    with pytest.raises(InvalidRequest) as caught:
        await rig.client.create_referral(
            body, correlation_id=CORRELATION, deadline=rig.deadline(), retry_ambiguous=False
        )

    paths = {e.path for e in caught.value.errors}
    assert "/customerProfile/address/country" in paths
    assert "/consent" in paths
    assert caught.value.code == "invalidRequest"
    assert caught.value.request_id is not None


async def test_an_unknown_referral_is_not_found(rig: Rig) -> None:
    with pytest.raises(NotFound) as caught:
        await rig.client.get_referral(
            "00000000-0000-4000-8000-000000000000",
            correlation_id=CORRELATION,
            deadline=rig.deadline(),
        )

    assert caught.value.code == "itemNotFound"


async def test_a_stale_etag_is_a_failed_precondition(
    rig: Rig, request_example: dict[str, Any]
) -> None:
    created = await rig.client.create_referral(
        request_example, correlation_id=CORRELATION, deadline=rig.deadline(), retry_ambiguous=False
    )
    assert created.id is not None
    await rig.client.patch_referral(
        created.id,
        [{"op": "replace", "path": "/details/notes", "value": "first"}],
        etag=created.eTag,
        return_representation=False,
        correlation_id=CORRELATION,
        deadline=rig.deadline(),
    )

    with pytest.raises(PreconditionFailed):
        await rig.client.patch_referral(
            created.id,
            [{"op": "replace", "path": "/details/notes", "value": "second"}],
            etag=created.eTag,
            return_representation=False,
            correlation_id=CORRELATION,
            deadline=rig.deadline(),
        )


async def test_a_user_without_the_referrals_role_is_denied(
    sandbox_app: SandboxApp, make_rig: Callable[..., Rig], request_example: dict[str, Any]
) -> None:
    rig = make_rig(sandbox_app, tokens=[sandbox_app.sandbox.token("norole")])

    with pytest.raises(AccessDenied) as caught:
        await rig.client.create_referral(
            request_example,
            correlation_id=CORRELATION,
            deadline=rig.deadline(),
            retry_ambiguous=False,
        )

    # A configuration problem, held by the handlers: never a per-message rejection.
    assert isinstance(caught.value, ConfigurationError)
    assert not isinstance(caught.value, PermanentError)
    assert sandbox_app.sandbox.stats()["requests"]["create"] == {"403": 1}


async def test_a_rejected_token_is_renewed_once(
    sandbox_app: SandboxApp, make_rig: Callable[..., Rig]
) -> None:
    foreign = create_app(SandboxConfig()).sandbox.token("admin")  # signed by another sandbox
    rig = make_rig(sandbox_app, tokens=[foreign, sandbox_app.sandbox.token("admin")])

    await listed(rig, None)

    assert rig.tokens.invalidated == [foreign]


async def test_a_token_that_stays_rejected_is_unauthenticated(
    sandbox_app: SandboxApp, make_rig: Callable[..., Rig]
) -> None:
    foreign = create_app(SandboxConfig()).sandbox.token("admin")
    rig = make_rig(sandbox_app, tokens=[foreign])

    with pytest.raises(Unauthenticated):
        await listed(rig, None)

    assert sandbox_app.sandbox.stats()["requests"]["list"] == {"401": 2}


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault.THROTTLE, Throttled),
        (Fault.ERROR, ServiceUnavailable),
        (Fault.UNAVAILABLE, ServiceUnavailable),
        (Fault.DROP, NetworkError),
    ],
)
async def test_injected_faults_map_to_transient_errors_and_are_retried(
    rig: Rig, fault: Fault, kind: type[Exception]
) -> None:
    rig.app.sandbox.faults.script(fault, "list", count=2)

    await listed(rig, None)

    assert len(rig.clock.waits) == 2
    rig.app.sandbox.faults.script(fault, "list", count=50)
    with pytest.raises(kind):
        await listed(rig, None)


async def test_throttling_waits_what_retry_after_says(rig: Rig) -> None:
    rig.app.sandbox.faults.configure(spec=FaultSpec(retry_after=7))
    rig.app.sandbox.faults.script(Fault.THROTTLE, "get", count=1)
    rig.app.sandbox.faults.script(Fault.UNAVAILABLE, "get", count=1)

    with pytest.raises(NotFound):
        await rig.client.get_referral(
            "missing", correlation_id=CORRELATION, deadline=rig.deadline()
        )

    assert rig.clock.waits == [7.0, 7.0]


async def test_a_hang_is_a_timeout(make_rig: Callable[..., Rig], sandbox_app: SandboxApp) -> None:
    rig = make_rig(sandbox_app, read_timeout=0.05)
    sandbox_app.sandbox.faults.script(Fault.HANG, "get", count=1)

    with pytest.raises(NotFound):  # retried after the timeout, then the real answer
        await rig.client.get_referral(
            "missing", correlation_id=CORRELATION, deadline=rig.deadline()
        )

    sandbox_app.sandbox.faults.script(Fault.HANG, "get", count=50)
    with pytest.raises(RequestTimedOut) as caught:
        await rig.client.get_referral(
            "missing", correlation_id=CORRELATION, deadline=rig.deadline(3)
        )
    assert caught.value.ambiguous


async def test_a_lost_create_answer_is_ambiguous_and_the_referral_can_be_found(
    rig: Rig, request_example: dict[str, Any]
) -> None:
    rig.app.sandbox.faults.script(Fault.LOST, "create", count=1)
    body = with_external_id(request_example, "crm-lost-1")

    with pytest.raises(NetworkError) as caught:
        await rig.client.create_referral(
            body, correlation_id=CORRELATION, deadline=rig.deadline(), retry_ambiguous=False
        )
    found = await listed(rig, eq("externalReferenceId", "crm-lost-1").render())

    assert caught.value.ambiguous
    assert len(found) == 1  # it was created: the handler adopts it instead of posting again
    assert rig.app.sandbox.stats()["requests"]["create"] == {"lost": 1}


async def test_a_lost_create_answer_is_retried_only_when_the_caller_allows(
    rig: Rig, request_example: dict[str, Any]
) -> None:
    rig.app.sandbox.faults.script(Fault.LOST, "create", count=1)
    body = with_external_id(request_example, "crm-lost-2")

    await rig.client.create_referral(
        body, correlation_id=CORRELATION, deadline=rig.deadline(), retry_ambiguous=True
    )
    found = await listed(rig, eq("externalReferenceId", "crm-lost-2").render())

    assert len(found) == 2  # the duplicate the ambiguous-create rule exists to avoid
