"""The Bicep and the code agree: entity and filter names, app settings, role scopes, alerts.

Everything expected here comes from `shared.names` and `shared.settings`; only Azure's own facts
(built-in role ids, the settings Flex Consumption rejects) are spelled out.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from shared import names
from shared.settings import (
    APP_SETTINGS,
    CONDITIONAL_SETTINGS,
    DEV_ONLY_SETTINGS,
    Settings,
)
from tests.infra.bicep_model import (
    Scope,
    Unresolved,
    accessor_chain,
    body,
    comment_before,
    condition,
    main_scope,
    render,
)

# Azure built-in role definition ids (the same in every tenant).
BUILT_IN_ROLES = {
    "090c5cfd-751d-490a-894a-3ce6f1109419": "Azure Service Bus Data Owner",
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}

# App settings the Flex Consumption plan rejects or ignores: runtime, version, scale and the
# package location live in functionAppConfig; content shares do not exist there.
FLEX_REJECTED_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY",
    "FUNCTIONS_WORKER_PROCESS_COUNT",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTOVERVNET",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    "WEBSITE_NODE_DEFAULT_VERSION",
    "WEBSITE_VNET_ROUTE_ALL",
    "WEBSITE_DNS_SERVER",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "AzureWebJobsStorage",  # a connection string; the identity-based form is AzureWebJobsStorage__*
}

SB = "Microsoft.ServiceBus/namespaces"
QUEUE = f"{SB}/queues"
TOPIC = f"{SB}/topics"
SUBSCRIPTION = f"{TOPIC}/subscriptions"
RULE = f"{SUBSCRIPTION}/rules"


def _iso_minutes(duration: str) -> int:
    match = re.fullmatch(r"PT(\d+)M", duration)
    assert match, duration
    return int(match.group(1))


def _single(scope: Scope, type_: str) -> tuple[str, dict[str, Any]]:
    ((symbol, declaration),) = scope.resources_of_type(type_).items()
    return symbol, body(declaration)


# ---- Service Bus ----


def _queues(sb: Scope) -> dict[str, dict[str, Any]]:
    return {sb.resolve(body(q)["name"]): body(q) for q in sb.resources_of_type(QUEUE).values()}


def test_service_bus_entities_are_the_names_module() -> None:
    sb = main_scope().module("serviceBus")
    _, topic = _single(sb, TOPIC)
    assert set(_queues(sb)) == {names.REQUESTS_QUEUE, names.UPDATES_QUEUE}
    assert sb.resolve(topic["name"]) == names.EVENTS_TOPIC
    subscriptions = {
        sb.resolve(body(s)["name"]) for s in sb.resources_of_type(SUBSCRIPTION).values()
    }
    assert subscriptions == {names.CONNECT_SUBSCRIPTION, names.OUTCOMES_SUBSCRIPTION}
    for symbol in sb.resources_of_type(SUBSCRIPTION):
        assert sb.parent_chain(symbol)[1] == (TOPIC, names.EVENTS_TOPIC)


def test_queue_and_topic_dead_letter_and_detect_duplicates() -> None:
    sb = main_scope().module("serviceBus")
    queues = list(_queues(sb).values())
    _, topic = _single(sb, TOPIC)
    window = names.DUPLICATE_DETECTION_WINDOW_MINUTES
    for entity in (*queues, topic):
        props = entity["properties"]
        assert props["requiresDuplicateDetection"] is True
        assert _iso_minutes(sb.resolve(props["duplicateDetectionHistoryTimeWindow"])) == window
    for queue in queues:
        assert queue["properties"]["deadLetteringOnMessageExpiration"] is True
    # The max delivery count is the deployment parameter, on the queues and connect-referral.
    connect = _subscription(sb, names.CONNECT_SUBSCRIPTION)
    for entity in (*queues, connect):
        assert sb.resolve(entity["properties"]["maxDeliveryCount"]) == Unresolved(
            "maxDeliveryCount"
        )
    assert connect["properties"]["deadLetteringOnMessageExpiration"] is True


def _subscription(sb: Scope, name: str) -> dict[str, Any]:
    (found,) = (
        body(s)
        for s in sb.resources_of_type(SUBSCRIPTION).values()
        if sb.resolve(body(s)["name"]) == name
    )
    return found


def test_connect_subscription_filter_is_the_declared_correlation_filter() -> None:
    sb = main_scope().module("serviceBus")
    rules = sb.resources_of_type(RULE)
    assert len(rules) == 1, "only connect-referral filters; outcomes takes every event"
    ((symbol, _),) = rules.items()
    chain = sb.parent_chain(symbol)
    assert chain[:2] == [
        (RULE, names.CONNECT_FILTER_RULE),
        (SUBSCRIPTION, names.CONNECT_SUBSCRIPTION),
    ]
    rule = body(rules[symbol])["properties"]
    assert rule["filterType"] == "CorrelationFilter"
    # `label` is the ARM name of the message's Subject system property.
    assert rule["correlationFilter"] == {
        "label": names.CONNECT_FILTER_SUBJECT,
        "properties": names.CONNECT_FILTER_PROPERTIES,
    }


# ---- app settings ----


def _app_settings() -> tuple[Scope, dict[str, Any]]:
    scope = main_scope().module("functionApp")
    _, site = _single(scope, "Microsoft.Web/sites")
    entries = site["properties"]["siteConfig"]["appSettings"]
    settings = {entry["name"]: entry["value"] for entry in entries}
    assert len(settings) == len(entries), "an app setting is set twice"
    return scope, settings


def test_app_settings_are_exactly_what_the_code_reads() -> None:
    _, settings = _app_settings()
    expected = (set(APP_SETTINGS) | set(names.HOST_SETTINGS)) - set(DEV_ONLY_SETTINGS)
    expected -= set(CONDITIONAL_SETTINGS)
    assert set(settings) == expected
    assert not set(settings) & FLEX_REJECTED_SETTINGS


def test_no_app_setting_carries_a_key_or_a_connection_string_secret() -> None:
    _, settings = _app_settings()
    for name, value in settings.items():
        text = str(value)
        assert "AccountKey=" not in text, name
        assert "SharedAccessKey" not in text, name
        assert "InstrumentationKey=" not in text, name  # only via the component's connection string
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings[f"{names.SERVICE_BUS_CONNECTION}__credential"] == "managedidentity"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].endswith(";Authorization=AAD")


def test_app_settings_satisfy_the_settings_object_and_match_its_defaults() -> None:
    scope, settings = _app_settings()
    env: dict[str, str] = {}
    literals: dict[str, str] = {}
    for name, value in settings.items():
        resolved = scope.resolve(value)
        if isinstance(resolved, str) and accessor_chain(value) is not None:
            env[name] = render(scope, resolved)
            if "${" not in resolved and not isinstance(value, dict):
                literals[name] = resolved
        else:
            env[name] = "deployed-value"
    parsed = Settings.from_env(env)  # every required setting present and well-formed
    fields = {info.alias: (field, info) for field, info in Settings.model_fields.items()}
    for name, text in literals.items():
        if name in fields and fields[name][1].default is not None:
            field, info = fields[name]
            assert getattr(parsed, field) == info.default, f"{name}={text} drifts from the code"
    assert settings["RELAY_APP_CREDENTIAL"] == "federated"
    assert env["RELAY_REFRESH_TOKEN_STORE"].startswith("keyvault://")


def test_settings_point_at_the_resources_the_templates_create() -> None:
    scope, settings = _app_settings()
    assert scope.resolve(settings["RELAY_LEDGER_TABLE"]) == names.LEDGER_TABLE
    store = settings["RELAY_REFRESH_TOKEN_STORE"]
    secret = re.fullmatch(r"keyvault://\$\{(\w+)\}/\$\{(\w+)\}", store)
    assert secret
    assert scope.resolve(secret.group(2)) == names.REFRESH_TOKEN_SECRET
    max_calls = settings["AzureFunctionsJobHost__extensions__serviceBus__maxConcurrentCalls"]
    assert max_calls["function"]["type"] == "string"
    assert scope.resolve(max_calls["function"]["parameters"]["value_to_convert"]) == Unresolved(
        "maxConcurrentCalls"
    )


def test_retry_budget_fits_inside_the_message_lock() -> None:
    scope, settings = _app_settings()
    sb = main_scope().module("serviceBus")
    for queue in _queues(sb).values():
        lock_seconds = _iso_minutes(sb.resolve(queue["properties"]["lockDuration"])) * 60
        assert float(scope.resolve(settings["RELAY_RETRY_BUDGET_SECONDS"])) < lock_seconds


def test_resources_carry_the_names_the_settings_use() -> None:
    main = main_scope()
    _, table = _single(
        main.module("storage"), "Microsoft.Storage/storageAccounts/tableServices/tables"
    )
    assert main.module("storage").resolve(table["name"]) == names.LEDGER_TABLE
    vault = main.module("keyVault")
    (placeholder,) = vault.modules
    secret_scope = vault.module(placeholder)
    _, secret = _single(secret_scope, "Microsoft.KeyVault/vaults/secrets")
    assert secret_scope.resolve(secret["name"]) == names.REFRESH_TOKEN_SECRET


# ---- role assignments ----

APP = "appPrincipalId"
OPERATOR = "operatorPrincipalId"


def _role_assignments() -> list[dict[str, Any]]:
    roles = main_scope().module("roles")
    found = []
    for symbol, declaration in roles.resources_of_type(
        "Microsoft.Authorization/roleAssignments"
    ).items():
        config = body(declaration)
        role_id = config["properties"]["roleDefinitionId"]["function"]["parameters"]
        scope_symbol = config.get("scope")
        found.append(
            {
                "symbol": symbol,
                "principal": config["properties"]["principalId"],
                "role": BUILT_IN_ROLES[roles.resolve(role_id["resource_name_1"])],
                "scope": roles.parent_chain(scope_symbol) if scope_symbol else None,
                "condition": condition(declaration),
            }
        )
    return found


def test_every_role_assignment_has_a_narrow_scope_and_a_reason() -> None:
    roles = main_scope().module("roles")
    broad = {SB, "Microsoft.KeyVault/vaults", "Microsoft.Resources/resourceGroups"}
    for assignment in _role_assignments():
        assert assignment["scope"], f"{assignment['symbol']} would land on the resource group"
        assert assignment["scope"][0][0] not in broad, assignment["symbol"]
        reason = comment_before(roles.path, assignment["symbol"])
        assert reason, f"{assignment['symbol']} has no reason"
        assert len(reason.split()) >= 5, f"{assignment['symbol']}: {reason}"


# Resources whose names are generated per environment (uniqueString), not declared in the code.
GENERATED_NAMES = {"Microsoft.Storage/storageAccounts", "Microsoft.Insights/components"}


def _grants(principal: str) -> set[tuple[str, str, Any, bool]]:
    return {
        (
            a["role"],
            a["scope"][0][0],
            "*" if a["scope"][0][0] in GENERATED_NAMES else a["scope"][0][1],
            a["condition"] is not None,
        )
        for a in _role_assignments()
        if a["principal"] == principal
    }


def test_app_identity_roles_are_least_privilege() -> None:
    assert _grants(APP) == {
        ("Azure Service Bus Data Receiver", QUEUE, names.REQUESTS_QUEUE, False),
        ("Azure Service Bus Data Sender", QUEUE, names.REQUESTS_QUEUE, False),
        ("Azure Service Bus Data Receiver", QUEUE, names.UPDATES_QUEUE, False),
        ("Azure Service Bus Data Sender", QUEUE, names.UPDATES_QUEUE, False),
        ("Azure Service Bus Data Sender", TOPIC, names.EVENTS_TOPIC, False),
        ("Azure Service Bus Data Receiver", SUBSCRIPTION, names.CONNECT_SUBSCRIPTION, False),
        # target-based scaling reads runtime message counts (a Manage operation), switchable
        ("Azure Service Bus Data Owner", QUEUE, names.REQUESTS_QUEUE, True),
        ("Azure Service Bus Data Owner", QUEUE, names.UPDATES_QUEUE, True),
        ("Azure Service Bus Data Owner", SUBSCRIPTION, names.CONNECT_SUBSCRIPTION, True),
        ("Storage Blob Data Owner", "Microsoft.Storage/storageAccounts", "*", False),
        (
            "Storage Table Data Contributor",
            "Microsoft.Storage/storageAccounts/tableServices/tables",
            names.LEDGER_TABLE,
            False,
        ),
        (
            "Key Vault Secrets Officer",
            "Microsoft.KeyVault/vaults/secrets",
            names.REFRESH_TOKEN_SECRET,
            False,
        ),
        (
            "Monitoring Metrics Publisher",
            "Microsoft.Insights/components",
            "*",
            False,
        ),
    }


def test_the_app_never_reads_the_outcomes_subscription() -> None:
    for assignment in _role_assignments():
        assert names.OUTCOMES_SUBSCRIPTION not in [name for _, name in assignment["scope"]]


def test_operator_gets_exactly_what_the_cli_needs_and_only_if_named() -> None:
    assert _grants(OPERATOR) == {
        ("Azure Service Bus Data Sender", QUEUE, names.REQUESTS_QUEUE, True),
        ("Azure Service Bus Data Sender", QUEUE, names.UPDATES_QUEUE, True),
        ("Azure Service Bus Data Receiver", QUEUE, names.REQUESTS_QUEUE, True),
        ("Azure Service Bus Data Receiver", SUBSCRIPTION, names.CONNECT_SUBSCRIPTION, True),
        ("Azure Service Bus Data Sender", TOPIC, names.EVENTS_TOPIC, True),
        (
            "Key Vault Secrets Officer",
            "Microsoft.KeyVault/vaults/secrets",
            names.REFRESH_TOKEN_SECRET,
            True,
        ),
    }


def test_role_principals_are_wired_to_the_identity_and_the_azd_user() -> None:
    main = main_scope()
    params = body(main.modules["roles"])["params"]
    assert accessor_chain(params[APP]) == ["identity", "outputs", "principalId"]
    assert params[OPERATOR] == OPERATOR  # main.bicep's parameter, from ${AZURE_PRINCIPAL_ID}


# ---- alerts ----


def _alerts() -> Scope:
    return main_scope().module("alerts")


@pytest.mark.parametrize(
    ("dimension", "value"),
    [
        (names.TELEMETRY_OUTCOME, names.REFERRAL_FAILED),
        (names.TELEMETRY_EVENT, names.TOKEN_REFRESH_FAILED),
    ],
)
def test_log_alerts_query_the_telemetry_names(dimension: str, value: str) -> None:
    queries = [
        criterion["query"]
        for rule in _alerts().resources_of_type("Microsoft.Insights/scheduledQueryRules").values()
        for criterion in body(rule)["properties"]["criteria"]["allOf"]
    ]
    assert f'customDimensions["{dimension}"]) == "{value}"' in " ".join(queries)


def test_dead_letter_alerts_watch_the_queue_and_the_topic() -> None:
    alerts = _alerts()
    watched = set()
    for rule in alerts.resources_of_type("Microsoft.Insights/metricAlerts").values():
        for criterion in body(rule)["properties"]["criteria"]["allOf"]:
            assert criterion["metricName"] == "DeadletteredMessages"
            (dimension,) = criterion["dimensions"]
            assert dimension["name"] == "EntityName"
            watched |= {alerts.resolve(v) for v in dimension["values"]}
    assert watched == {names.REQUESTS_QUEUE, names.EVENTS_TOPIC}


def test_every_alert_notifies_the_action_group_with_the_alert_email() -> None:
    alerts = _alerts()
    ((group_symbol, group),) = alerts.resources_of_type("Microsoft.Insights/actionGroups").items()
    (receiver,) = body(group)["properties"]["emailReceivers"]
    assert alerts.resolve(receiver["emailAddress"]) == Unresolved("alertEmail")
    group_id = {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": group_symbol, "operand_2": "id"},
        }
    }
    rules = {
        **alerts.resources_of_type("Microsoft.Insights/metricAlerts"),
        **alerts.resources_of_type("Microsoft.Insights/scheduledQueryRules"),
    }
    assert len(rules) == 5
    for rule in rules.values():
        actions = body(rule)["properties"]["actions"]
        ids = (
            [a["actionGroupId"] for a in actions]
            if isinstance(actions, list)
            else actions["actionGroups"]
        )
        assert ids == [group_id]
