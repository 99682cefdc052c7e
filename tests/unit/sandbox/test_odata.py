"""The sandbox's OData `$filter` evaluator and list options, on plain referral dicts."""

from __future__ import annotations

from typing import Any

import pytest

from partner_sandbox.odata import FilterError, compile_filter, parse_list_query

GUID = "37ef26aa-1d15-4533-9f93-a69bd33ab1e5"
REFERRAL: dict[str, Any] = {
    "id": "4111fffc-f9ee-4d53-bba6-569135228642",
    "engagementId": GUID,
    "name": "O'Brien & Sons",
    "externalReferenceId": None,
    "status": "Active",
    "type": "Shared",
    "direction": "Outgoing",
    "customerProfile": {"address": {"country": "US"}, "team": [{"email": "sue@contoso.com"}]},
    "consent": {"consentToContact": True},
    "details": {"dealValue": 50000},
    "team": [{"email": "john.doe@microsoft.com"}, {"email": "jane@contoso.com"}],
    "target": [{"type": "BusinessProfileLocation", "id": "msft"}],
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (f"engagementId eq '{GUID}'", True),
        (f"engagementId eq {GUID}", True),
        (f"engagementId eq {GUID.upper()}", True),  # a bare GUID ignores letter case
        (f"engagementId eq '{GUID.upper()}'", False),  # a string does not
        (f"engagementId ne {GUID}", False),
        ("name eq 'O''Brien & Sons'", True),
        ("name eq 'O'Brien & Sons'", None),  # an unescaped quote ends the literal: syntax error
        ("status eq 'Active' and type eq 'Shared'", True),
        ("status eq 'New' or type eq 'Shared'", True),
        ("status eq 'New' or (type eq 'Shared' and direction eq 'Incoming')", False),
        ("not (status eq 'New')", True),
        ("not (status eq 'New') and not (type eq 'Shared')", False),
        ("customerProfile/address/country eq 'US'", True),
        ("customerProfile/address/region eq null", True),
        ("customerProfile/missing/deeper eq null", True),
        ("externalReferenceId eq null", True),
        ("consent/consentToContact eq true", True),
        ("consent/consentToContact eq 1", False),  # true is not 1
        ("details/dealValue eq 50000", True),
        ("details/dealValue eq 50000.0", True),
        ("team/any(t:t/email eq 'jane@contoso.com')", True),
        ("team/any(t: t/email eq 'nobody@contoso.com')", False),
        ("team/any(t:t/email eq 'jane@contoso.com' and t/email ne null)", True),
        ("customerProfile/team/any(c:c/email eq 'sue@contoso.com')", True),
        ("target/any(t:t/type eq 'BusinessProfileLocation' and t/id eq 'msft')", True),
        ("team/any()", True),
        ("inviteContext/any()", False),
        ("team/any(t: team/any(u: u/email eq t/email))", True),
    ],
)
def test_filter_evaluation(expression: str, expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(FilterError):
            compile_filter(expression)
        return
    assert compile_filter(expression).matches(REFERRAL) is expected


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("", "empty"),
        ("status eq", "syntax"),
        ("status eq 'x' and", "syntax"),
        ("status eq 'open", "syntax"),
        ("status eq New", "property"),
        ("Status eq 'Active'", "property"),
        ("status", "condition"),
        ("status eq 'Active' eq true", "condition"),
        ("status and type", "condition"),
        ("not status", "condition"),
        ("not(status eq 'Active')", "with a space"),
        ("nosuchfunction(name)", "function"),
        ("contains(name, 'x')", "function"),
        ("status in ('Active', 'New')", "in"),
        ("details/dealValue add 1 eq 2", "arithmetic"),
        ("team/all(t: t/email eq 'x')", "any()"),
        ("team/any(name: name/email eq 'x')", "lambda"),
        ("ns.status eq 'x'", "qualified"),
    ],
)
def test_unsupported_filters_raise_filter_error(expression: str, reason: str) -> None:
    with pytest.raises(FilterError) as raised:
        compile_filter(expression)

    assert reason in str(raised.value)


def test_error_messages_never_repeat_query_values() -> None:
    with pytest.raises(FilterError) as raised:
        compile_filter("team/any(t:t/email eq 'secret.person@contoso.com') and (")

    assert "secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("expression", "equalities"),
    [
        (f"engagementId eq '{GUID}'", (("engagementId", GUID),)),
        (f"engagementId eq {GUID.upper()}", (("engagementId", GUID),)),
        (f"'{GUID}' eq engagementId", (("engagementId", GUID),)),
        (
            "externalReferenceId eq 'crm-1' and id eq 'abc' and status eq 'Active'",
            (("externalReferenceId", "crm-1"), ("id", "abc")),
        ),
        ("externalReferenceId eq 'a' or externalReferenceId eq 'b'", ()),
        ("not (externalReferenceId eq 'a')", ()),
        ("externalReferenceId ne 'a'", ()),
        ("name eq 'a'", ()),
    ],
)
def test_indexed_equalities_are_only_the_required_ones(
    expression: str, equalities: tuple[tuple[str, str], ...]
) -> None:
    assert compile_filter(expression).equalities == equalities


def test_list_options() -> None:
    query = parse_list_query(
        [
            ("$filter", "status eq 'Active'"),
            ("$top", "10"),
            ("$skip", "20"),
            ("$orderby", "updatedDateTime desc,createdDateTime"),
            ("$select", "id, name"),
            ("$count", "TRUE"),
            ("api-version", "1"),
        ],
        page_size=100,
    )

    assert query.filter is not None
    assert query.filter.text == "status eq 'Active'"
    assert (query.top, query.skip, query.count) == (10, 20, True)
    assert query.orderby == (("updatedDateTime", True), ("createdDateTime", False))
    assert query.select == ("id", "name")
    assert query.next_page_params() == {
        "$filter": "status eq 'Active'",
        "$orderby": "updatedDateTime desc,createdDateTime asc",
        "$select": "id,name",
        "$count": "true",
        "$top": "10",
        "$skip": "30",
    }


def test_list_defaults() -> None:
    query = parse_list_query([], page_size=100)

    assert (query.filter, query.top, query.skip, query.orderby, query.select, query.count) == (
        None,
        100,
        0,
        (),
        None,
        False,
    )
