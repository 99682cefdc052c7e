"""The local host runs HTTP and timer triggers from their real binding metadata, with small
test-only functions in a `func.FunctionApp` built here."""

from __future__ import annotations

import base64
import json
from typing import Any

import azure.functions as func
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from local_host.host import HostConfigurationError, LocalHost
from local_host.http_triggers import compile_route
from local_host.timer_triggers import Schedule, ScheduleError
from local_host.topology import build_broker
from partner_sandbox import SandboxConfig, create_app
from partner_sandbox.transport import SandboxTransport
from tests.functional.sandbox.helpers import create

FIVE_MINUTES = "0 */5 * * * *"


Calls = list[tuple[str, Any]]


def build_app(calls: Calls) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="ping/{name}/{rest?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def ping(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(
            json.dumps(
                {"name": req.route_params.get("name"), "rest": req.route_params.get("rest")}
            ),
            mimetype="application/json",
        )

    @app.route(route="partner/webhook", methods=["POST"])
    async def hook(req: func.HttpRequest) -> func.HttpResponse:
        calls.append(("hook", (dict(req.headers), req.get_body(), req.url)))
        return func.HttpResponse(status_code=202, headers={"x-seen": "1"})

    @app.route(route="admin/thing", auth_level=func.AuthLevel.ADMIN)
    def admin_only(req: func.HttpRequest) -> None:
        calls.append(("admin", req.method))

    @app.route(route="broken", auth_level=func.AuthLevel.ANONYMOUS)
    def broken(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("boom")

    @app.timer_trigger(schedule=FIVE_MINUTES, arg_name="timer")
    async def poll(timer: func.TimerRequest) -> None:
        calls.append(("poll", timer.past_due))

    return app


@pytest.fixture
def calls() -> Calls:
    return []


@pytest.fixture
def host(calls: Calls) -> LocalHost:
    return LocalHost(build_app(calls), build_broker(), function_key="fkey", master_key="mkey")


def client_for(host: LocalHost) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(host.http_app), base_url="http://h")


async def test_routes_under_api_with_route_parameters_ignoring_case(host: LocalHost) -> None:
    async with client_for(host) as client:
        full = await client.get("/api/ping/alpha/beta")
        short = await client.get("/API/Ping/alpha".replace("/API", "/api"))
        unknown = await client.get("/api/nothing-here")
        no_prefix = await client.get("/ping/alpha")

    assert full.json() == {"name": "alpha", "rest": "beta"}
    assert short.json() == {"name": "alpha", "rest": None}
    assert full.headers["content-type"].startswith("application/json")
    assert (unknown.status_code, no_prefix.status_code) == (404, 404)


async def test_a_method_the_binding_does_not_list_is_404(host: LocalHost) -> None:
    async with client_for(host) as client:
        assert (await client.post("/api/ping/alpha")).status_code == 404
        assert (await client.get("/api/partner/webhook?code=fkey")).status_code == 404


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/partner/webhook", {}, 401),
        ("/api/partner/webhook?code=wrong", {}, 401),
        ("/api/partner/webhook", {"x-functions-key": "wrong"}, 401),
        ("/api/partner/webhook?code=fkey", {}, 202),
        ("/api/partner/webhook", {"x-functions-key": "fkey"}, 202),
        ("/api/partner/webhook?code=mkey", {}, 202),
        ("/api/admin/thing?code=fkey", {}, 401),
        ("/api/admin/thing", {"x-functions-key": "mkey"}, 204),
    ],
)
async def test_auth_levels_want_the_function_or_master_key(
    host: LocalHost, path: str, headers: dict[str, str], status: int
) -> None:
    async with client_for(host) as client:
        assert (await client.post(path, headers=headers, content=b"{}")).status_code == status


async def test_the_function_gets_the_request_and_its_answer_is_sent(
    host: LocalHost, calls: Calls
) -> None:
    async with client_for(host) as client:
        response = await client.post(
            "/api/partner/webhook?code=fkey", content=b'{"a": 1}', headers={"X-Thing": "t"}
        )
        broken = await client.get("/api/broken")

    assert response.headers["x-seen"] == "1"
    [(name, (headers, body, url))] = calls
    assert (name, body, headers["x-thing"]) == ("hook", b'{"a": 1}', "t")
    assert url.endswith("/api/partner/webhook?code=fkey")
    assert broken.status_code == 500
    assert host.invocations == 2


async def test_keys_are_random_per_host_unless_given(calls: Calls) -> None:
    one = LocalHost(build_app(calls), build_broker())
    two = LocalHost(build_app(calls), build_broker())

    assert one.function_key != two.function_key
    assert one.master_key != one.function_key


async def test_served_on_loopback_a_sandbox_webhook_arrives_signed(
    calls: Calls,
) -> None:
    """The two halves of issue 14 §3 together: the sandbox delivers a signed event over a real
    socket to an HTTP-triggered function of the local host."""
    host = LocalHost(build_app(calls), build_broker())
    sandbox = create_app(SandboxConfig(seed=5))
    async with (
        host.serve_http() as url,
        httpx.AsyncClient(
            transport=SandboxTransport(sandbox),
            base_url="http://sandbox.test",
            headers={"Authorization": f"Bearer {sandbox.sandbox.token()}"},
        ) as partner,
    ):
        assert url.startswith("http://127.0.0.1:")
        registered = await partner.post(
            "/webhooks/v1/registration",
            json={
                "webhookUrl": f"{url}/api/partner/webhook?code={host.function_key}",
                "webhookEvents": ["referral-created"],
            },
        )
        assert registered.status_code == 200
        await create(partner)
        await sandbox.sandbox.settle_async()

    [(_, (headers, body, _url))] = calls
    assert json.loads(body)["EventName"] == "referral-created"
    leaf = x509.load_der_x509_certificate(sandbox.sandbox.webhooks.signer.certificate_der())
    leaf.verify_directly_issued_by(
        x509.load_pem_x509_certificate(sandbox.sandbox.webhook_ca_pem().encode())
    )
    key = leaf.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    signature = base64.b64decode(headers["authorization"].removeprefix("Signature "))
    key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
    assert sandbox.sandbox.webhooks.stats()["delivered"] == 1


async def test_a_timer_fires_on_the_broker_clock_once_per_due_time(
    host: LocalHost, calls: Calls
) -> None:
    [timer] = host.timers
    assert await host.run_until_idle()
    assert calls == []  # not due yet

    host.broker.advance_to(timer.next_due)
    assert await host.run_until_idle()
    assert calls == [("poll", False)]
    assert timer.next_due == Schedule.parse(FIVE_MINUTES).next_after(host.broker.now())

    host.broker.advance_to(host.broker.now() + 15 * 60)  # three occurrences missed: one run
    assert await host.run_until_idle()
    assert calls == [("poll", False), ("poll", True)]

    await host.fire_timer("poll")
    assert calls[-1] == ("poll", False)
    with pytest.raises(KeyError):
        await host.fire_timer("nope")


async def test_run_on_startup_fires_at_the_first_run(calls: Calls) -> None:
    app = func.FunctionApp()

    @app.timer_trigger(schedule="00:10:00", arg_name="t", run_on_startup=True)
    def every_ten_minutes(t: func.TimerRequest) -> None:
        calls.append(("ten", t.past_due))

    host = LocalHost(app, build_broker())
    await host.run_until_idle()

    assert calls == [("ten", False)]
    assert host.timers[0].next_due == pytest.approx(host.broker.now() + 600, abs=1)


def test_a_bad_schedule_is_a_configuration_error() -> None:
    app = func.FunctionApp()

    @app.timer_trigger(schedule="*/5 * * * *", arg_name="t")  # five fields: not NCRONTAB
    def five(t: func.TimerRequest) -> None:
        return None

    with pytest.raises(HostConfigurationError, match="six-field"):
        LocalHost(app, build_broker())


def test_schedules_from_app_settings_and_timespans() -> None:
    from_setting = Schedule.parse("%POLL_SCHEDULE%", {"POLL_SCHEDULE": "0 0 * * * *"})

    assert from_setting.next_after(3600 * 10 + 1) == 3600 * 11
    assert Schedule.parse("1.00:00:00").interval_s == 86_400
    with pytest.raises(ScheduleError):
        Schedule.parse("%MISSING%", {})
    with pytest.raises(ScheduleError):
        Schedule.parse("61 * * * * *")


def test_route_templates() -> None:
    assert compile_route("a/{id:int}").fullmatch("a/7") is not None
    assert compile_route("files/{*path}").fullmatch("files/x/y/z") is not None
    assert compile_route("a/{id}").fullmatch("a") is None
