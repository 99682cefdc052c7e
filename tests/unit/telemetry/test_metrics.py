"""Metric names live in one place and each recorder reaches its instrument."""

from __future__ import annotations

import pytest

from local_host.telemetry import Capture, capture
from shared.telemetry import hooks, metrics, setup
from shared.telemetry.invocations import partner_response


def test_names_are_unique_and_namespaced() -> None:
    assert len(set(metrics.ALL)) == len(metrics.ALL)
    assert all(name.startswith("relay.") for name in metrics.ALL)


def test_outcomes_count_by_kind(captured: Capture) -> None:
    metrics.invocation("create_referral", "created", "complete", None)
    metrics.invocation("create_referral", "duplicate", "complete", None)
    metrics.invocation("create_referral", "rejected", "complete", "contact_required")
    metrics.invocation("connect_referral", "connected", "complete", None)
    metrics.referral_failed("create_referral", "throttled")
    metrics.referral_latency("create_referral", 1.5)
    assert captured.metric(metrics.REFERRALS_CREATED) == 1
    assert captured.metric(metrics.REFERRALS_CONNECTED) == 1
    assert captured.metric(metrics.DUPLICATES_SUPPRESSED) == 1
    assert captured.metric(metrics.REFERRALS_REJECTED, error_code="contact_required") == 1
    assert captured.metric(metrics.REFERRALS_FAILED, error_code="throttled") == 1
    assert captured.metric(metrics.INVOCATIONS, function="create_referral") == 3
    assert captured.metric(metrics.REFERRAL_LATENCY, function="create_referral") == 1


def test_api_calls_throttles_retry_waits_and_token_refreshes(captured: Capture) -> None:
    partner_response("create", 429, "req-1")
    partner_response("create", 200, "req-2")
    partner_response("list", "network", None)
    hooks.retry_wait("create", 2.0)
    hooks.token_refresh("success")
    hooks.token_refresh("failure")
    assert captured.metric(metrics.API_CALLS, operation="create") == 2
    assert captured.metric(metrics.API_CALLS, status="network") == 1
    assert captured.metric(metrics.API_THROTTLES, operation="create") == 1
    assert captured.metric(metrics.API_RETRY_WAIT, operation="create") == 1
    assert captured.metric(metrics.TOKEN_REFRESHES, result="failure") == 1
    assert captured.metric(metrics.TOKEN_REFRESHES) == 2


def test_nothing_is_recorded_while_telemetry_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    with capture() as first:
        before = first.metric_points()
    monkeypatch.setattr(setup, "_mode", "off")  # whatever ran before in this process
    metrics.invocation("create_referral", "created", "complete", None)
    partner_response("create", 200, None)
    hooks.token_refresh("success")
    monkeypatch.undo()
    with capture() as second:
        assert second.metric_points() == before
