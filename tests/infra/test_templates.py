"""The templates parse offline and have the shape azd and Flex Consumption need."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.bicep_model import (
    INFRA,
    MAIN,
    Scope,
    Unresolved,
    bicep_files,
    body,
    main_scope,
    parse,
)

REPO = INFRA.parent


def _function_app(main: Scope) -> tuple[Scope, dict[str, Any]]:
    scope = main.module("functionApp")
    (site,) = scope.resources_of_type("Microsoft.Web/sites").values()
    return scope, body(site)


def test_every_bicep_file_parses_and_main_uses_all_of_them() -> None:
    files = bicep_files()
    assert MAIN in files
    referenced = {MAIN}
    for path in files:
        template = parse(path)  # raises on a syntax pycep cannot read
        assert template.get("resources") or template.get("modules"), path
        for module in template.get("modules", {}).values():
            referenced.add((path.parent / module["detail"]["path"]).resolve())
    assert set(files) == referenced, "a .bicep file no template deploys"


# Resource types without a GA API version that does the job: diagnostic settings with category
# logs to a workspace exist only as 2021-05-01-preview (the newest in Azure/bicep-types-az, the
# one Microsoft's own Bicep references use; 2016-09-01 is the old per-resource "service" form).
PREVIEW_ONLY = {"Microsoft.Insights/diagnosticSettings": "2021-05-01-preview"}


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.name)
def test_resources_use_ga_api_versions(path: Path) -> None:
    for symbol, resource in parse(path).get("resources", {}).items():
        version = resource["api_version"]
        if resource["type"] in PREVIEW_ONLY:
            assert version == PREVIEW_ONLY[resource["type"]], f"{path.name}:{symbol}"
            continue
        assert re.fullmatch(r"20\d\d-\d\d-\d\d", version), f"{path.name}:{symbol} uses {version}"


def test_parameters_file_covers_main_parameters() -> None:
    params = main_scope().params
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(values) <= set(params), "main.parameters.json sets a parameter main.bicep lacks"
    required = {name for name, p in params.items() if p.get("default") is None}
    assert required <= set(values), "azd would not pass a required parameter"
    # The parameters, all exposed to azd.
    assert {
        "environmentName",
        "location",
        "pythonVersion",
        "maximumInstanceCount",
        "instanceMemoryMB",
        "maxConcurrentCalls",
        "maxDeliveryCount",
        "partnerTenantId",
        "appClientId",
        "alertEmail",
    } <= set(values)
    assert params["pythonVersion"]["default"] == "3.11"
    # `${VAR=default}` defaults in the parameters file agree with the Bicep defaults.
    for name, entry in values.items():
        match = re.fullmatch(r"\$\{[A-Z_]+=(.*)\}", str(entry["value"]))
        if match:
            assert str(params[name]["default"]).lower() == match.group(1).lower(), name


def test_azure_yaml_deploys_the_root_to_the_tagged_function_app() -> None:
    config = yaml.safe_load((REPO / "azure.yaml").read_text())
    assert config["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    (name, service), *others = config["services"].items()
    assert not others
    assert service == {"project": ".", "language": "python", "host": "function"}
    main = main_scope()
    scope, site = _function_app(main)
    assert site["tags"]["function"]["type"] == "union"
    tag = site["tags"]["function"]["parameters"]["arg_2"]["'azd-service-name'"]
    assert scope.resolve(tag) == name
    # .funcignore keeps the deployment to the function code.
    ignored = (REPO / ".funcignore").read_text().split()
    assert {"infra/", "tests/", "relay_cli/", "azure.yaml"} <= set(ignored)


def test_postprovision_hook_sets_the_flag_that_protects_the_refresh_token() -> None:
    config = yaml.safe_load((REPO / "azure.yaml").read_text())
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    variable = re.fullmatch(r"\$\{([A-Z_]+)=false\}", values["refreshTokenSecretExists"]["value"])
    assert variable
    for shell in ("posix", "windows"):
        run = config["hooks"]["postprovision"][shell]["run"]
        assert run == f"azd env set {variable.group(1)} true"
    # The placeholder secret is deployed only while the flag is false.
    vault = main_scope().module("keyVault")
    (placeholder,) = vault.modules.values()
    assert placeholder["config"]["condition"] == {
        "operator": {"type": "not", "operands": {"bool_value": "refreshTokenSecretExists"}}
    }


def test_flex_consumption_plan_and_app() -> None:
    main = main_scope()
    scope, site = _function_app(main)
    (plan,) = scope.resources_of_type("Microsoft.Web/serverfarms").values()
    assert body(plan)["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert body(plan)["properties"]["reserved"] is True
    assert site["kind"] == "functionapp,linux"
    assert site["properties"]["httpsOnly"] is True
    assert site["identity"]["type"] == "UserAssigned"

    config = site["properties"]["functionAppConfig"]
    assert config["runtime"]["name"] == "python"
    assert scope.resolve(config["runtime"]["version"]) == Unresolved("pythonVersion")
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    scale = config["scaleAndConcurrency"]
    assert scale["maximumInstanceCount"] == "maximumInstanceCount"
    assert scale["instanceMemoryMB"] == "instanceMemoryMB"
    for name in ("pythonVersion", "maximumInstanceCount", "instanceMemoryMB"):
        assert scope.resolve(name) == Unresolved(name), f"{name} is not main.bicep's parameter"
    # Flex reads runtime and stack from functionAppConfig, never from siteConfig.
    assert "linuxFxVersion" not in site["properties"]["siteConfig"]


def test_resources_refuse_keys_and_old_tls() -> None:
    main = main_scope()
    (account,) = (
        main.module("storage").resources_of_type("Microsoft.Storage/storageAccounts").values()
    )
    props = body(account)["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"

    (namespace,) = (
        main.module("serviceBus").resources_of_type("Microsoft.ServiceBus/namespaces").values()
    )
    # Standard by default; Premium only when public network access is off (private endpoints).
    sku = main.module("serviceBus").variables[body(namespace)["sku"]]["value"]["operator"]
    assert sku["operands"]["condition"] == "isPrivate"
    assert sku["operands"]["false_value"]["name"] == "Standard"
    assert sku["operands"]["true_value"]["name"] == "Premium"
    assert body(namespace)["properties"]["disableLocalAuth"] is True
    assert body(namespace)["properties"]["minimumTlsVersion"] == "1.2"

    (vault,) = main.module("keyVault").resources_of_type("Microsoft.KeyVault/vaults").values()
    props = body(vault)["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enableSoftDelete"] is True
    assert props["enablePurgeProtection"] is True

    monitoring = main.module("monitoring")
    (insights,) = monitoring.resources_of_type("Microsoft.Insights/components").values()
    assert body(insights)["properties"]["DisableLocalAuth"] is True
    (workspace,) = monitoring.resources_of_type("Microsoft.OperationalInsights/workspaces").values()
    assert body(workspace)["properties"]["features"]["disableLocalAuth"] is True


def test_outputs_azd_and_the_operator_need() -> None:
    outputs = main_scope().outputs
    assert {
        "AZURE_LOCATION",
        "AZURE_TENANT_ID",
        "AZURE_RESOURCE_GROUP",
        "AZURE_FUNCTION_APP_NAME",
        "SERVICE_BUS_NAMESPACE",
        "KEY_VAULT_NAME",
        "RELAY_REFRESH_TOKEN_STORE",
        "APPLICATIONINSIGHTS_NAME",
        "RELAY_IDENTITY_CLIENT_ID",
        "RELAY_IDENTITY_PRINCIPAL_ID",
    } <= set(outputs)
    assert outputs["RELAY_REFRESH_TOKEN_STORE"]["value"].startswith("keyvault://")


def test_checkov_skips_are_inline_and_give_a_reason() -> None:
    for path in bicep_files():
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                match = re.fullmatch(r"\s*// checkov:skip=CKV2?_AZURE_\d+:(.+)", line)
                assert match, f"{path.name}: {line.strip()}"
                assert len(match.group(1).split()) >= 6, f"{path.name}: reason too thin"
