"""The OData filter builder: values never change the query's shape, whatever they contain."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from odata_query import ast
from odata_query.grammar import ODataLexer, ODataParser

from shared.partner_api.odata import Filter, and_, eq, guid_eq, or_


def parse(text: str) -> ast._Node:
    return ODataParser().parse(ODataLexer().tokenize(text))


def test_a_quote_in_a_value_is_doubled_and_parses_back_to_the_same_value() -> None:
    built = eq("externalReferenceId", "O'Brien")

    assert built.render() == "externalReferenceId eq 'O''Brien'"
    assert parse(built.render()) == ast.Compare(
        ast.Eq(), ast.Identifier("externalReferenceId"), ast.String("O'Brien")
    )


def test_an_injection_attempt_stays_one_string_literal() -> None:
    value = "x' or externalReferenceId ne 'y"
    built = and_(eq("externalReferenceId", value), eq("type", "Shared"))

    tree = parse(built.render())

    assert tree == ast.BoolOp(
        ast.And(),
        ast.Compare(ast.Eq(), ast.Identifier("externalReferenceId"), ast.String(value)),
        ast.Compare(ast.Eq(), ast.Identifier("type"), ast.String("Shared")),
    )


@given(st.text())
def test_any_text_round_trips_as_a_single_literal(value: str) -> None:
    assert parse(eq("externalReferenceId", value).render()) == eq("externalReferenceId", value).node


def test_guid_filter_for_the_engagement_id_is_canonical_and_quoted() -> None:
    engagement = "6B0A9F0C-2E2B-4D44-9D5E-3C1B9B0E6A11"

    built = guid_eq("engagementId", engagement)

    assert built.render() == "engagementId eq '6b0a9f0c-2e2b-4d44-9d5e-3c1b9b0e6a11'"
    assert eq("engagementId", uuid.UUID(engagement)).render() == built.render()


def test_guid_filter_rejects_what_is_not_a_guid() -> None:
    with pytest.raises(ValueError, match="badly formed"):
        guid_eq("engagementId", "not-a-guid' or 1 eq 1")


def test_property_paths_use_slashes_and_combine_with_parentheses_where_needed() -> None:
    built = and_(
        or_(eq("type", "Shared"), eq("type", "Independent")),
        eq("customerProfile/address/country", "US"),
    )

    text = built.render()

    assert text == (
        "(type eq 'Shared' or type eq 'Independent') and customerProfile/address/country eq 'US'"
    )
    assert parse(text) == built.node
    assert str(built) == text


@pytest.mark.parametrize(
    "path", ["", "a//b", "1abc", "name eq 'x' or name", "customerProfile/", "a-b"]
)
def test_a_field_path_that_is_not_a_property_path_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="not an OData property path"):
        eq(path, "x")


def test_filters_are_values() -> None:
    assert eq("type", "Shared") == Filter(eq("type", "Shared").node)
