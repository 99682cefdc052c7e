"""The sandbox as Microsoft's webhook sender: registrations, signed deliveries, retries, faults,
and the admin actions that trigger them. A receiver app records what arrives, in-process."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from partner_sandbox import FaultSpec, SandboxApp, SandboxConfig, create_app
from partner_sandbox.config import DEFAULT_ORG_ID
from tests.functional.sandbox.conftest import ClientFactory
from tests.functional.sandbox.helpers import MSFT_TARGET, REFERRALS, FakeClock, create

REGISTRATION = "/webhooks/v1/registration"
HOOK = "http://receiver.test/api/partner/webhook"
ALL_EVENTS = [
    "referral-created",
    "referral-updated",
    "related-referral-created",
    "related-referral-updated",
    "test-created",
]


class Receiver:
    """Records each POST (headers and raw body); answers `fail_first` of them with 500."""

    def __init__(self, fail_first: int = 0, status: int = 500) -> None:
        self.fail_first = fail_first
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.app = Starlette(routes=[Route("/api/partner/webhook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        self.received.append((dict(request.headers), await request.body()))
        if len(self.received) <= self.fail_first:
            return Response(status_code=self.status)
        return Response(status_code=200)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


def attach(app: SandboxApp, fail_first: int = 0) -> Receiver:
    receiver = Receiver(fail_first)
    app.sandbox.webhooks.transport = httpx.ASGITransport(receiver.app)
    return receiver


async def register(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    body = {"webhookUrl": HOOK, "webhookEvents": ALL_EVENTS, **changes}
    response = await client.post(REGISTRATION, json=body)
    assert response.status_code == 200, response.text
    registration: dict[str, Any] = response.json()
    return registration


async def test_registration_can_be_created_read_changed_and_deleted(
    admin: httpx.AsyncClient,
) -> None:
    created = await register(admin, webhookEvents=["referral-updated"])

    assert created["webhookUrl"] == HOOK
    assert created["webhookEvents"] == ["referral-updated"]
    assert created["signatureTokenToMsSignatureHeader"] is False
    assert (await admin.post(REGISTRATION, json={"webhookUrl": HOOK})).status_code == 409
    assert (await admin.get(REGISTRATION)).json() == created
    changed = await admin.put(
        REGISTRATION,
        json={"WebhookUrl": HOOK + "2", "WebhookEvents": ["Referral-Created"], "unknown": 1},
    )
    assert changed.status_code == 200
    assert changed.json()["subscriberId"] == created["subscriberId"]
    assert changed.json()["webhookEvents"] == ["referral-created"]
    assert (await admin.delete(REGISTRATION)).status_code == 204
    assert (await admin.get(REGISTRATION)).status_code == 404
    assert (await admin.put(REGISTRATION, json={"webhookUrl": HOOK})).status_code == 404
    assert (await admin.get(REGISTRATION + "/events")).json() == ALL_EVENTS


@pytest.mark.parametrize(
    "body",
    [
        {"webhookEvents": ["referral-created"]},
        {"webhookUrl": "not a url", "webhookEvents": ["referral-created"]},
        {"webhookUrl": HOOK, "webhookEvents": []},
        {"webhookUrl": HOOK, "webhookEvents": ["subscription-exploded"]},
        {
            "webhookUrl": HOOK,
            "webhookEvents": ["test-created"],
            "signatureTokenToMsSignatureHeader": 3,
        },
    ],
)
async def test_a_bad_registration_is_a_400(admin: httpx.AsyncClient, body: dict[str, Any]) -> None:
    assert (await admin.post(REGISTRATION, json=body)).status_code == 400


async def test_registration_needs_a_token_and_admin_to_change(
    connect: ClientFactory, admin: httpx.AsyncClient
) -> None:
    assert (await connect(None).get(REGISTRATION)).status_code == 401
    assert (await connect("norole").get(REGISTRATION)).status_code == 403
    user = connect("user")
    assert (await user.post(REGISTRATION, json={"webhookUrl": HOOK})).status_code == 403
    await register(admin)
    assert (await user.get(REGISTRATION)).status_code == 200


async def test_app_only_tokens_for_the_documented_audience_may_register(
    connect: ClientFactory,
) -> None:
    token = (
        await connect(None).post(
            f"/{DEFAULT_ORG_ID}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "relay",
                "scope": "https://api.partnercenter.microsoft.com/.default",
            },
        )
    ).json()["access_token"]
    app_client = connect(None, token=token)

    await register(app_client)
    # The same token is not one the Referrals API takes (app-only, another audience).
    assert (await app_client.get(REFERRALS)).status_code in (401, 403)


def verify_delivery(
    ca_pem: str, certificate_der: bytes, headers: dict[str, str], body: bytes
) -> None:
    """What a receiver does ([docs] 'How to authenticate the callback'), with the sandbox CA."""
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    leaf = x509.load_der_x509_certificate(certificate_der)
    leaf.verify_directly_issued_by(ca)
    organization = leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert organization == "Microsoft Corporation"
    assert headers["x-ms-signature-algorithm"] == "rsa-sha256"
    signature = headers.get("x-ms-signature") or headers["authorization"].removeprefix("Signature ")
    key = leaf.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(base64.b64decode(signature), body, padding.PKCS1v15(), hashes.SHA256())


async def test_a_create_is_delivered_signed_and_its_resource_can_be_read(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    receiver = attach(app)
    await register(admin)
    referral = await create(admin)

    await app.sandbox.settle_async()

    [(headers, body)] = receiver.received
    event = json.loads(body)
    assert event["EventName"] == "referral-created"
    assert event["ResourceName"] == "referral"
    assert event["AuditUri"] is None
    assert event["ResourceUri"].endswith(f"/engagements/v1/referrals/{referral['id']}")
    assert event["ResourceChangeUtcDate"].endswith("+00:00")
    assert headers["content-type"] == "application/json"
    certificate_url = headers["x-ms-certificate-url"]
    assert certificate_url.endswith("/_sandbox/webhooks/pcnotifications-dispatch.cer")
    certificate = await admin.get(httpx.URL(certificate_url).path)
    ca_pem = (await admin.get("/_sandbox/webhooks/ca.pem")).text
    assert ca_pem == app.sandbox.webhook_ca_pem()
    verify_delivery(ca_pem, certificate.content, headers, body)
    with pytest.raises(InvalidSignature):  # the signature covers the body: one byte changed fails
        verify_delivery(
            ca_pem, certificate.content, headers, body.replace(b"referral", b"referrat")
        )
    resource = await admin.get(httpx.URL(event["ResourceUri"]).path)
    assert resource.status_code == 200
    assert resource.json()["eTag"] == referral["eTag"]


async def test_the_ms_signature_header_option_moves_the_signature(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    receiver = attach(app)
    await register(admin, signatureTokenToMsSignatureHeader=True)
    await create(admin)

    await app.sandbox.settle_async()

    [(headers, body)] = receiver.received
    assert "authorization" not in headers
    certificate = app.sandbox.webhooks.signer.certificate_der()
    verify_delivery(app.sandbox.webhook_ca_pem(), certificate, headers, body)


async def test_the_signing_organisation_is_configurable(clock: FakeClock) -> None:
    app = create_app(SandboxConfig(clock=clock, webhook_organization="Contoso Forgery Ltd"))
    leaf = x509.load_der_x509_certificate(app.sandbox.webhooks.signer.certificate_der())

    [name] = leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert name.value == "Contoso Forgery Ltd"


async def test_patch_and_events_not_registered_for(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    receiver = attach(app)
    await register(admin, webhookEvents=["referral-updated"])
    referral = await create(admin)  # referral-created: not registered for

    patched = await admin.patch(
        f"{REFERRALS}/{referral['id']}",
        json=[{"op": "replace", "path": "/details/notes", "value": "n"}],
    )
    assert patched.status_code == 204
    await app.sandbox.settle_async()

    assert [e["EventName"] for e in receiver.events()] == ["referral-updated"]


async def test_a_failed_delivery_is_retried_until_it_succeeds(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    receiver = attach(app, fail_first=2)
    await register(admin)
    await create(admin)

    await app.sandbox.settle_async()

    assert len(receiver.received) == 3
    assert len({body for _, body in receiver.received}) == 1  # the same event each time
    stats = app.sandbox.stats()["webhooks"]
    assert stats | {"registrations": 1} == stats
    assert (stats["attempts"], stats["failed"], stats["delivered"], stats["pending"]) == (
        3,
        2,
        1,
        0,
    )


async def test_the_worker_retries_after_its_backoff_on_the_sandbox_clock(
    app: SandboxApp, admin: httpx.AsyncClient, clock: FakeClock
) -> None:
    receiver = attach(app, fail_first=1)
    await register(admin)
    await create(admin)
    for _ in range(500):  # the first attempt runs in the background at once
        if app.sandbox.webhooks.stats()["failed"]:
            break
        await asyncio.sleep(0.01)
    assert len(receiver.received) == 1

    clock.advance(app.sandbox.config.webhook_backoff_s)  # the retry is due
    for _ in range(500):
        if not app.sandbox.webhooks.pending():
            break
        await asyncio.sleep(0.01)

    assert len(receiver.received) == 2
    assert app.sandbox.webhooks.stats()["delivered"] == 1


async def test_after_ten_attempts_an_event_goes_offline(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    receiver = attach(app, fail_first=1_000)
    await register(admin)
    await create(admin)

    await app.sandbox.settle_async()

    assert len(receiver.received) == 10
    stats = app.sandbox.webhooks.stats()
    assert (stats["offline"], stats["delivered"], stats["pending"]) == (1, 0, 0)


async def test_an_unreachable_receiver_counts_as_a_failed_attempt(
    clock: FakeClock, connect: ClientFactory
) -> None:
    app = create_app(SandboxConfig(clock=clock, webhook_attempts=2))
    admin = connect(target=app)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    app.sandbox.webhooks.transport = httpx.MockTransport(refuse)
    await register(admin)
    await create(admin)

    await app.sandbox.settle_async()

    assert app.sandbox.webhooks.stats()["offline"] == 1


async def test_webhook_dup_delivers_every_event_twice(
    clock: FakeClock, connect: ClientFactory
) -> None:
    app = create_app(SandboxConfig(clock=clock, faults=FaultSpec.parse("webhook-dup=1")))
    receiver = attach(app)
    admin = connect(target=app)
    await register(admin)
    await create(admin)

    await app.sandbox.settle_async()

    assert len(receiver.received) == 2
    assert receiver.received[0][1] == receiver.received[1][1]
    assert app.sandbox.stats()["webhooks"]["duplicated"] == 1


async def test_webhook_reorder_lets_the_next_event_overtake(
    clock: FakeClock, connect: ClientFactory
) -> None:
    app = create_app(SandboxConfig(clock=clock, faults=FaultSpec.parse("webhook-reorder=1")))
    receiver = attach(app)
    admin = connect(target=app)
    await register(admin)
    ids = []
    for _ in range(4):
        ids.append((await create(admin))["id"])
        clock.advance(1)

    await app.sandbox.settle_async()

    order = [e["ResourceUri"].rsplit("/", 1)[1] for e in receiver.events()]
    assert order == [ids[1], ids[0], ids[3], ids[2]]


async def test_webhook_delay_holds_events_on_the_sandbox_clock(
    clock: FakeClock, connect: ClientFactory
) -> None:
    app = create_app(SandboxConfig(clock=clock, faults=FaultSpec.parse("webhook-delay=60")))
    receiver = attach(app)
    admin = connect(target=app)
    await register(admin)
    await create(admin)
    await asyncio.sleep(0.05)  # the worker runs, finds nothing due yet
    assert app.sandbox.webhooks.pending() == 1

    clock.advance(61)
    for _ in range(500):
        if receiver.received:
            break
        await asyncio.sleep(0.01)

    assert len(receiver.received) == 1


def test_webhook_fault_keys_parse_and_round_trip() -> None:
    spec = FaultSpec.parse("webhook-dup=0.1,webhook-reorder=0.2,webhook-delay=30")

    assert (spec.webhook_dup, spec.webhook_reorder, spec.webhook_delay) == (0.1, 0.2, 30.0)
    assert FaultSpec.parse(spec.to_spec()) == spec
    with pytest.raises(ValueError, match="webhook-dup"):
        FaultSpec.parse("webhook-dup=2")


async def test_webhook_faults_do_not_shift_the_api_fault_sequence(clock: FakeClock) -> None:
    plain = FaultSpec.parse("500=0.5")
    mixed = dataclasses.replace(plain, webhook_dup=0.5, webhook_reorder=0.5)
    outcomes = []
    for spec in (plain, mixed):
        app = create_app(SandboxConfig(seed=3, clock=clock, faults=spec))
        attach(app)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app),
            base_url="http://sandbox.test",
            headers={"Authorization": f"Bearer {app.sandbox.token()}"},
        ) as client:
            await register(client)
            codes = []
            for _ in range(12):
                codes.append((await client.post(REFERRALS, json=_example())).status_code)
            await app.sandbox.settle_async()
        outcomes.append(codes)

    assert outcomes[0] == outcomes[1]


def _example() -> dict[str, Any]:
    from tests.functional.sandbox.helpers import example

    return example()


async def test_admin_actions_and_incoming_referrals_send_events(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    receiver = attach(app)
    ours = await create(admin)
    microsoft = await create(admin, engagementId=ours["engagementId"], target=MSFT_TARGET)
    await register(admin)

    declined = await admin.post(f"/_sandbox/referrals/{microsoft['id']}/decline", json={})
    incoming = await admin.post("/_sandbox/referrals/incoming", json={"from": "partner"})
    expired = await admin.post(f"/_sandbox/referrals/{incoming.json()['id']}/expire")
    await app.sandbox.settle_async()

    assert declined.status_code == 200
    assert declined.json()["eTag"] != microsoft["eTag"]
    assert (declined.json()["status"], declined.json()["substatus"]) == ("Closed", "Declined")
    new = incoming.json()
    assert incoming.status_code == 201
    assert (new["direction"], new["status"], new["substatus"]) == ("Incoming", "New", "Pending")
    assert new["inviteContext"]["invitedBy"]["organizationName"].startswith("Northwind")
    assert expired.json()["substatus"] == "Expired"
    events = [(e["EventName"], e["ResourceUri"].rsplit("/", 1)[1]) for e in receiver.events()]
    assert events == [
        ("related-referral-updated", microsoft["id"]),
        ("referral-created", new["id"]),
        ("referral-updated", new["id"]),
    ]


async def test_an_incoming_referral_from_microsoft_can_be_accepted(
    app: SandboxApp, admin: httpx.AsyncClient
) -> None:
    incoming = (await admin.post("/_sandbox/referrals/incoming", json={})).json()

    accepted = await admin.post(f"/_sandbox/referrals/{incoming['id']}/accept")

    assert incoming["inviteContext"]["invitedBy"]["organizationName"] == "Microsoft"
    assert (accepted.json()["status"], accepted.json()["substatus"]) == ("Active", "Accepted")
    assert accepted.json()["updatedDateTime"] >= incoming["updatedDateTime"]
    got = (await admin.get(f"{REFERRALS}/{incoming['id']}")).json()
    assert got["eTag"] == accepted.json()["eTag"]
    bad = await admin.post("/_sandbox/referrals/incoming", json={"from": "nobody"})
    assert bad.status_code == 400


async def test_test_events_are_delivered_tracked_and_throttled(
    app: SandboxApp, admin: httpx.AsyncClient, clock: FakeClock
) -> None:
    receiver = attach(app)
    await register(admin, webhookEvents=["referral-created"])
    assert (await admin.post(REGISTRATION + "/validationEvents")).status_code == 400
    await admin.put(REGISTRATION, json={"webhookUrl": HOOK, "webhookEvents": ["test-created"]})

    first = await admin.post(REGISTRATION + "/validationEvents")
    second = await admin.post(REGISTRATION + "/validationEvents")
    third = await admin.post(REGISTRATION + "/validationEvents")
    await app.sandbox.settle_async()

    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert int(third.headers["Retry-After"]) >= 1
    correlation = first.json()["correlationId"]
    status = (await admin.get(f"{REGISTRATION}/validationEvents/{correlation}")).json()
    assert status["status"] == "completed"
    assert status["callbackUrl"] == HOOK
    assert status["results"][0]["responseCode"] == "OK"
    assert receiver.events()[0]["EventName"] == "test-created"
    assert receiver.events()[0]["ResourceUri"].endswith(f"/validationEvents/{correlation}")
    clock.advance(61)
    assert (await admin.post(REGISTRATION + "/validationEvents")).status_code == 200


async def test_settle_on_the_loop_with_pending_deliveries_says_to_await(
    app: SandboxApp, admin: httpx.AsyncClient, clock: FakeClock
) -> None:
    app.sandbox.faults.configure(spec=FaultSpec.parse("webhook-delay=100"))
    attach(app)
    await register(admin)
    await create(admin)

    with pytest.raises(RuntimeError, match="settle_async"):
        app.sandbox.settle()
    assert (await admin.post("/_sandbox/settle")).json() == {"landed": 0}
    assert app.sandbox.webhooks.pending() == 0


def test_settle_without_a_loop_sends_pending_deliveries(clock: FakeClock) -> None:
    app = create_app(SandboxConfig(clock=clock))
    receiver = attach(app)

    async def setup() -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app),
            base_url="http://sandbox.test",
            headers={"Authorization": f"Bearer {app.sandbox.token()}"},
        ) as client:
            app.sandbox.faults.configure(spec=FaultSpec.parse("webhook-delay=100"))
            await register(client)
            await create(client)

    asyncio.run(setup())
    assert app.sandbox.webhooks.pending() == 1

    app.sandbox.settle()

    assert len(receiver.received) == 1
