"""No token and no customer data in logs or exception messages, whatever goes wrong."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import pytest

from partner_sandbox import SandboxApp, SandboxConfig, create_app
from partner_sandbox.faults import Fault
from shared.partner_api.errors import PartnerApiError
from shared.partner_api.odata import eq
from tests.functional.client.conftest import Rig

CORRELATION = "5c1f0e2a-7b3d-4e8f-9a6b-1d2c3e4f5a6b"


def customer_data(example: dict[str, Any]) -> list[str]:
    """Every name, e-mail and phone number of the documented example's customer."""
    profile = example["customerProfile"]
    values = [profile["name"]]
    for member in profile["team"]:
        values += [member["firstName"], member["lastName"], member["email"], member["phoneNumber"]]
    return values


def everything_said(records: list[logging.LogRecord], errors: list[BaseException]) -> str:
    parts: list[str] = []
    for record in records:
        parts.append(record.getMessage())
        parts.extend(str(value) for value in record.__dict__.values())
    for error in errors:
        parts += [str(error), repr(error), str(error.__cause__), str(error.__context__)]
        parts.extend(str(e) for e in getattr(error, "errors", ()))
    return "\n".join(parts)


async def test_errors_and_logs_carry_ids_only(
    sandbox_app: SandboxApp,
    make_rig: Callable[..., Rig],
    request_example: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    foreign = create_app(SandboxConfig()).sandbox.token("admin")
    admin = sandbox_app.sandbox.token("admin")
    norole = sandbox_app.sandbox.token("norole")
    rig = make_rig(sandbox_app, tokens=[foreign, admin])
    faults = sandbox_app.sandbox.faults
    invalid = copy.deepcopy(request_example)
    # What the sandbox refuses (it binds as Partner Center does): values that cannot bind.
    invalid["customerProfile"]["address"]["country"] = ["United States"]
    invalid["details"]["dealValue"] = "sue.smith(at)contoso.com"
    errors: list[BaseException] = []

    async def attempt(call: Any) -> None:
        try:
            await call
        except PartnerApiError as exc:
            errors.append(exc)

    def create(body: dict[str, Any], budget: float = 60) -> Any:
        return rig.client.create_referral(
            body, correlation_id=CORRELATION, deadline=rig.clock.now + budget, retry_ambiguous=False
        )

    with caplog.at_level(logging.DEBUG):
        await attempt(create(invalid))  # 401 with the foreign token, renewal, then 400
        created = await create(request_example)
        assert created.id is not None
        for fault in (Fault.THROTTLE, Fault.UNAVAILABLE, Fault.ERROR, Fault.DROP, Fault.LOST):
            faults.script(fault, "create", count=50)
            await attempt(create(request_example, budget=5))
            faults.reset()
        await attempt(
            rig.client.patch_referral(
                created.id,
                [{"op": "replace", "path": "/details/notes", "value": "Call Sue Smith"}],
                etag='"stale"',
                return_representation=True,
                correlation_id=CORRELATION,
                deadline=rig.deadline(),
            )
        )
        filter_ = eq("customerProfile/address/country", "US").render()
        async for _ in rig.client.list_referrals(
            filter=filter_, correlation_id=CORRELATION, deadline=rig.deadline()
        ):
            pass
        denied = make_rig(sandbox_app, tokens=[norole])
        await attempt(
            denied.client.create_referral(
                request_example,
                correlation_id=CORRELATION,
                deadline=denied.deadline(),
                retry_ambiguous=False,
            )
        )

    kinds = sorted({type(e).__name__ for e in errors})
    assert kinds == [
        "AccessDenied",
        "InvalidRequest",
        "NetworkError",
        "PreconditionFailed",
        "ServiceUnavailable",
        "Throttled",
    ]
    said = everything_said(caplog.records, errors)
    assert any(r.name == "referral_relay.partner_api" for r in caplog.records)
    assert any(r.name == "httpx" for r in caplog.records)  # third-party records are checked too
    assert "client-request-id=" in said
    for secret in (foreign, admin, norole, *customer_data(request_example), "Sue Smith"):
        assert secret not in said
