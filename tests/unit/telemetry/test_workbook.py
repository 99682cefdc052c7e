"""The workbook's queries read the names the code writes, and the docs explain every one of them.

Parsed offline with pycep (no Bicep compiler): string variables are expanded by hand.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from shared import names
from shared.telemetry import logs, metrics
from shared.telemetry.invocations import log as summary_logger
from tests.infra.bicep_model import INFRA, accessor_chain, parse

WORKBOOK = INFRA / "modules" / "workbook.bicep"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "monitoring.md"


@cache
def _variables() -> dict[str, Any]:
    return {name: v["value"] for name, v in parse(WORKBOOK)["variables"].items()}


def _expand(text: str) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: _expand(_variables()[m.group(1)]), text)


def _items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = _variables()["workbookContent"]["items"]
    return items


def _queries() -> dict[str, str]:
    """Title -> the KQL of each query item."""
    out = {}
    for item in _items():
        if item["type"] == 3:
            content = item["content"]
            out[content["title"]] = _expand(_variables()[content["query"]])
    return out


def test_main_deploys_the_workbook_against_the_components_it_queries() -> None:
    params = parse(INFRA / "main.bicep")["modules"]["workbook"]["config"]["params"]
    assert accessor_chain(params["applicationInsightsName"]) == [
        "monitoring",
        "outputs",
        "applicationInsightsName",
    ]
    assert accessor_chain(params["serviceBusNamespaceName"]) == ["serviceBus", "outputs", "name"]


def test_queries_read_the_summary_logger_and_its_fields() -> None:
    summaries = _expand(_variables()["summaries"])
    assert f'== "{summary_logger.name}"' in summaries
    fields = {  # log fields and metric dimensions, as the code names them
        v for m in (logs, metrics) for k, v in vars(m).items() if k.isupper() and isinstance(v, str)
    }
    used: set[str] = set()
    for query in _queries().values():
        used |= set(re.findall(r"customDimensions\.(\w+)", query))
    assert used - {"logger_name"} <= fields, used - fields
    assert {"function", "outcome", "latency_ms", "duration_ms", "error_code"} <= used


def test_queries_use_the_telemetry_names_the_code_writes() -> None:
    text = "\n".join(_queries().values())
    assert f'customDimensions["{names.TELEMETRY_OUTCOME}"]) == "{names.REFERRAL_FAILED}"' in text
    assert f'customDimensions["{names.TELEMETRY_EVENT}"]) == "{names.TOKEN_REFRESH_FAILED}"' in text
    used = set(re.findall(r'"(relay\.[a-z_.]+)"', text)) - {
        names.TELEMETRY_OUTCOME,
        names.TELEMETRY_EVENT,
    }
    assert used, "no metric queried"
    assert used <= set(metrics.ALL), used - set(metrics.ALL)


def test_the_dead_letter_chart_watches_the_namespace_metric() -> None:
    (chart,) = [item["content"] for item in _items() if item["type"] == 10]
    assert chart["resourceType"] == "microsoft.servicebus/namespaces"
    (metric,) = chart["metrics"]
    assert metric["metric"].endswith("DeadletteredMessages")
    assert metric["splitBy"] == "EntityName"


def test_the_docs_explain_every_query_and_every_metric() -> None:
    docs = DOCS.read_text()
    for title in _queries():
        assert f"**{title}**" in docs, title
    for name in metrics.ALL:
        assert f"`{name}`" in docs or f"`{name}` (s)" in docs, name
    for alert in ("queue-dead-letters", "subscription-dead-letters", "referral-failed-rate"):
        assert alert in docs
    assert "token-refresh-failed" in docs
