"""Issue 12 §2: a configuration problem (401 after renewal, 403, our own credentials failing)
fires an alert. The codes the KQL names are the stable `CODE`s of the exception classes that
mean "the deployment cannot call Partner Center" — renaming or adding such a class without the
alert following fails here."""

from __future__ import annotations

import inspect
from typing import get_args

from shared.auth import errors as auth_errors
from shared.handlers.common import OutcomeKind
from shared.partner_api import errors as api_errors
from shared.telemetry import logs
from shared.telemetry.invocations import log as summary_logger
from tests.infra.alert_queries import configuration_alert
from tests.infra.bicep_model import body, main_scope


def configuration_codes() -> set[str]:
    """ConfigurationError and its subclasses, and every AuthError class that is not transient
    (a transient token-endpoint failure is an outage, not a configuration problem)."""
    codes: set[str] = set()
    for module, base in (
        (api_errors, api_errors.ConfigurationError),
        (auth_errors, auth_errors.AuthError),
    ):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, base) and not getattr(cls, "transient", False):
                codes.add(cls.CODE)
    return codes


def test_the_alert_counts_every_configuration_code_and_nothing_else() -> None:
    alert = configuration_alert()
    assert alert.error_codes == configuration_codes()
    assert {"unauthenticated", "access_denied", "reauthentication_required"} <= alert.error_codes
    # Transient failures are not configuration problems: the alert must not fire on them.
    assert not alert.error_codes & {
        api_errors.Throttled.CODE,
        api_errors.ServiceUnavailable.CODE,
        auth_errors.TokenServiceUnavailable.CODE,
    }
    assert alert.statuses == {"401", "403"}


def test_the_alert_reads_the_summary_line_as_the_code_writes_it() -> None:
    alert = configuration_alert()
    assert alert.query.startswith("traces | ")
    for field in (logs.OUTCOME, logs.ERROR_CODE, logs.PARTNER_STATUS):
        assert f"customDimensions.{field})" in alert.query
    assert alert.outcomes == {"rescheduled", "failed"}
    assert alert.outcomes <= set(get_args(OutcomeKind))
    assert summary_logger.name == "referral_relay.invocation"  # the lines the query counts


def test_the_alert_is_severe_and_watches_application_insights() -> None:
    rule = main_scope().module("alerts").resources["configurationProblems"]
    props = body(rule)["properties"]
    assert props["severity"] == 1
    assert props["enabled"] is True
    (scope,) = props["scopes"]
    assert scope["operator"]["operands"]["operand_1"] == "appInsights"
    (criterion,) = props["criteria"]["allOf"]
    assert criterion["operator"] == "GreaterThan"
    assert criterion["threshold"] == 0
