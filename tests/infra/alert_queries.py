"""The configuration-problem alert's KQL, read offline: which outcomes, error codes and Partner
API statuses it counts (tests/infra and tests/functional/telemetry both check them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.infra.bicep_model import body, main_scope

RULE = "configurationProblems"


@dataclass(frozen=True)
class ConfigurationAlert:
    query: str
    outcomes: frozenset[str]
    error_codes: frozenset[str]
    statuses: frozenset[str]

    def fires_on(self, line: dict[str, object]) -> bool:
        """Whether one summary line's customDimensions match the query's predicates."""
        return str(line.get("outcome")) in self.outcomes and (
            str(line.get("error_code")) in self.error_codes
            or str(line.get("partner_status")) in self.statuses
        )


def _listed(query: str, dimension: str) -> frozenset[str]:
    match = re.search(rf"tostring\(customDimensions\.{dimension}\) in \(([^)]*)\)", query)
    assert match, f"the alert no longer reads customDimensions.{dimension}"
    return frozenset(re.findall(r'"([^"]*)"', match.group(1)))


def configuration_alert() -> ConfigurationAlert:
    rule = main_scope().module("alerts").resources[RULE]
    (criterion,) = body(rule)["properties"]["criteria"]["allOf"]
    query: str = criterion["query"]
    return ConfigurationAlert(
        query=query,
        outcomes=_listed(query, "outcome"),
        error_codes=_listed(query, "error_code"),
        statuses=_listed(query, "partner_status"),
    )
