"""Issue 13 P3: diagnostic settings send Key Vault's AuditEvent, Service Bus's and Storage's
(blob, table) logs to the workspace; one documented parameter turns public network access off
for Key Vault, Storage and Service Bus and adds private endpoints, their DNS zones and the
function app's VNet integration instead."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.infra.bicep_model import INFRA, Scope, Unresolved, body, condition, main_scope

REPO = INFRA.parent
DIAGNOSTICS = "Microsoft.Insights/diagnosticSettings"
WORKSPACE = Unresolved("workspace.id")  # monitoring.bicep's Log Analytics workspace


def _diagnostics(scope: Scope) -> dict[str, dict[str, Any]]:
    """Target symbol -> the properties of the diagnostic setting scoped to it."""
    return {
        body(d)["scope"]: body(d)["properties"]
        for d in scope.resources_of_type(DIAGNOSTICS).values()
    }


def _categories(scope: Scope, logs: Any) -> set[str]:
    if isinstance(logs, str):  # a variable
        logs = scope.variables[logs]["value"]
    return {entry["category"] for entry in logs if entry["enabled"] is True}


def test_the_workspace_is_monitoring_s_log_analytics() -> None:
    monitoring = main_scope().module("monitoring")
    (workspace,) = monitoring.resources_of_type("Microsoft.OperationalInsights/workspaces")
    assert workspace == "workspace"
    assert monitoring.resolve(monitoring.outputs["workspaceId"]["value"]) == WORKSPACE


def test_key_vault_audit_events_go_to_the_workspace() -> None:
    vault = main_scope().module("keyVault")
    settings = _diagnostics(vault)["vault"]
    assert vault.resolve(settings["workspaceId"]) == WORKSPACE
    assert _categories(vault, settings["logs"]) == {"AuditEvent"}


def test_storage_blob_and_table_logs_go_to_the_workspace() -> None:
    storage = main_scope().module("storage")
    settings = _diagnostics(storage)
    assert set(settings) == {"blobService", "tableService"}
    assert (
        storage.resources["blobService"]["type"] == "Microsoft.Storage/storageAccounts/blobServices"
    )
    assert storage.resources["tableService"]["type"] == (
        "Microsoft.Storage/storageAccounts/tableServices"
    )
    for properties in settings.values():
        assert storage.resolve(properties["workspaceId"]) == WORKSPACE
        assert _categories(storage, properties["logs"]) == {
            "StorageRead",
            "StorageWrite",
            "StorageDelete",
        }


def test_service_bus_logs_go_to_the_workspace_on_either_tier() -> None:
    bus = main_scope().module("serviceBus")
    settings = _diagnostics(bus)["namespace"]
    assert bus.resolve(settings["workspaceId"]) == WORKSPACE
    choice = settings["logs"]["operator"]["operands"]
    assert choice["condition"] == "isPrivate"
    assert _categories(bus, choice["false_value"]) == {"OperationalLogs"}  # Standard
    # Runtime audit (who sent, received, settled) exists on Premium only.
    assert _categories(bus, choice["true_value"]) == {
        "OperationalLogs",
        "RuntimeAuditLogs",
        "VNetAndIPFilteringLogs",
    }


# ---- publicNetworkAccess ----------------------------------------------------------------------


def test_public_network_access_is_one_documented_parameter_enabled_by_default() -> None:
    main = main_scope()
    param = main.params["publicNetworkAccess"]
    assert param["default"] == "Enabled"
    decorators = json.dumps(param["decorators"])
    assert '"Enabled"' in decorators
    assert '"Disabled"' in decorators
    assert "docs/deploy.md" in decorators
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert values["publicNetworkAccess"]["value"] == "${RELAY_PUBLIC_NETWORK_ACCESS=Enabled}"
    deploy = (REPO / "docs" / "deploy.md").read_text()
    assert "RELAY_PUBLIC_NETWORK_ACCESS" in deploy
    assert "publicNetworkAccess" in deploy


def test_storage_key_vault_and_service_bus_follow_the_parameter() -> None:
    main = main_scope()
    for module, resource in (
        ("storage", "storage"),
        ("keyVault", "vault"),
        ("serviceBus", "namespace"),
    ):
        scope = main.module(module)
        assert scope.resolve("publicNetworkAccess") == Unresolved("publicNetworkAccess"), module
        properties = body(scope.resources[resource])["properties"]
        assert properties["publicNetworkAccess"] == "publicNetworkAccess", module
        assert scope.variables["isPrivate"]["value"] == {
            "operator": {
                "type": "equals",
                "operands": {"operand_1": "publicNetworkAccess", "operand_2": "Disabled"},
            }
        }
        if "networkAcls" in properties:  # firewall default: deny when private
            action = properties["networkAcls"]["defaultAction"]["operator"]["operands"]
            assert (action["condition"], action["true_value"], action["false_value"]) == (
                "isPrivate",
                "Deny",
                "Allow",
            )


def test_private_mode_adds_endpoints_for_every_service_the_app_reaches() -> None:
    main = main_scope()
    assert condition(main.modules["network"]) == "isPrivate"
    network = main.module("network")
    services = {
        "storageAccountId": Unresolved("storage.id"),
        "keyVaultId": Unresolved("vault.id"),
        "serviceBusNamespaceId": Unresolved("namespace.id"),
    }
    for param, resolved in services.items():
        assert network.resolve(param) == resolved, param
    endpoints: dict[str, tuple[str, str]] = {}
    for symbol, declaration in network.modules.items():
        if declaration["detail"]["path"] == "private-endpoint.bicep":
            params = body(declaration)["params"]
            zone_module = params["privateDnsZoneId"]["operator"]["operands"]["operand_1"]
            zone = body(network.modules[zone_module])["params"]["name"]
            endpoints[params["groupId"]] = (params["serviceId"], zone)
            assert params["subnetId"] == "endpointSubnetId", symbol
    suffix = "${environment().suffixes.storage}"
    assert endpoints == {
        "blob": ("storageAccountId", f"privatelink.blob.{suffix}"),
        "queue": ("storageAccountId", f"privatelink.queue.{suffix}"),
        "table": ("storageAccountId", f"privatelink.table.{suffix}"),
        "vault": ("keyVaultId", "privatelink.vaultcore.azure.net"),
        "namespace": ("serviceBusNamespaceId", "privatelink.servicebus.windows.net"),
    }
    # Each zone is linked to the network, each endpoint registered in its zone.
    zone_scope = network.module("blobZone")
    (link,) = zone_scope.resources_of_type(
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks"
    ).values()
    assert body(link)["properties"]["virtualNetwork"]["id"] == "virtualNetworkId"
    endpoint_scope = network.module("blobEndpoint")
    assert endpoint_scope.resources_of_type(
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"
    )


def test_private_mode_integrates_the_app_with_a_flex_subnet() -> None:
    main = main_scope()
    network = main.module("network")
    (vnet,) = network.resources_of_type("Microsoft.Network/virtualNetworks").values()
    subnets = {
        network.resolve(s["name"]): s["properties"] for s in body(vnet)["properties"]["subnets"]
    }
    (delegation,) = subnets["app"]["delegations"]
    assert delegation["properties"]["serviceName"] == "Microsoft.App/environments"  # Flex's
    assert subnets["private-endpoints"]["privateEndpointNetworkPolicies"] == "Disabled"
    passed = body(main.modules["functionApp"])["params"]["virtualNetworkSubnetId"]
    operands = passed["operator"]["operands"]
    assert operands["condition"] == "isPrivate"
    assert operands["false_value"] == ""
    assert operands["true_value"]["operator"]["operands"]["operand_1"] == "network"
    app = main.module("functionApp")
    (site,) = app.resources_of_type("Microsoft.Web/sites").values()
    integration = body(site)["properties"]["virtualNetworkSubnetId"]["operator"]["operands"]
    assert integration["false_value"] == "virtualNetworkSubnetId"
    assert Path(INFRA / "modules" / "network.bicep").is_file()
