"""What CRM teams map against: the published schema and the property table follow the models,
describe every property, and the generators stay out of the deployed package."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from devtools.property_table import DOC, rendered_doc
from devtools.schemas import ID_PREFIX, REQUEST_SCHEMA, SCHEMA_NAMES, json_schema
from shared.contracts.validation import check_referral_request
from tests.conftest import REPO


def _properties(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for name, spec in (node.get("properties") or {}).items():
            yield f"{where}/{name}", spec
        for key, child in node.items():
            yield from _properties(child, f"{where}/{key}" if key == "$defs" else where)
    elif isinstance(node, list):
        for child in node:
            yield from _properties(child, where)


def test_every_request_property_has_a_description_and_a_source() -> None:
    found = list(_properties(json_schema(REQUEST_SCHEMA)))
    assert len(found) > 80
    undocumented = [path for path, spec in found if not spec.get("description")]
    unsourced = [path for path, spec in found if not spec.get("x-source")]
    assert undocumented == []
    assert unsourced == []


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_ids_are_real_identifiers(name: str) -> None:
    schema_id = json_schema(name)["$id"]
    assert schema_id == f"{ID_PREFIX}{name}"
    assert schema_id.startswith("urn:")
    assert "example" not in schema_id
    assert "github.com" not in schema_id


@pytest.mark.parametrize(
    "sample", ["microsoft-2019-create.json", "microsoft-2024-private.json", "services-cosell.json"]
)
def test_the_canonical_form_of_the_samples_satisfies_the_schema(sample: str) -> None:
    body = json.loads((REPO / "samples" / sample).read_text())
    jsonschema.validate(check_referral_request(body).body, json_schema(REQUEST_SCHEMA))


def test_the_property_table_in_the_docs_follows_the_models() -> None:
    text = DOC.read_text()
    assert text == rendered_doc(text), "regenerate it: python -m devtools.property_table"
    for name in ("campaignId", "salesStage", "partnerRole", "trackingInfo/microsoftMsxId"):
        assert f"| `{name}` |" in text


def test_nothing_deployed_imports_the_dev_tools() -> None:
    for path in (REPO / "shared").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not [n for n in names if n.split(".")[0] == "devtools"], path
    assert not (REPO / "shared" / "contracts" / "schemas.py").exists()
    ignored = (REPO / ".funcignore").read_text().split()
    assert "devtools/" in ignored
