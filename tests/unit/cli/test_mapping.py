"""CSV and Excel rows through column mappings: the bundled ones make valid requests from their
sample exports; value maps, types, templates and errors are what the mapping doc says."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from relay_cli.inputs import InputError, read_inputs
from relay_cli.main import main
from relay_cli.mapping import Column, Mapping, bundled_mappings, load_mapping, parse_path
from tests.conftest import REPO

SAMPLES = {
    "partner-center-export": REPO / "samples/csv/partner-center-export.csv",
    "dynamics365-opportunity": REPO / "samples/csv/dynamics365-opportunity.csv",
}


def rows(path: Path, mapping: str | None = None) -> list[dict[str, Any]]:
    return [json.loads(m.body) for m in read_inputs([str(path)], mapping=mapping)]


def test_both_bundled_mappings_are_listed() -> None:
    assert set(SAMPLES) <= set(bundled_mappings())


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_bundled_sample_export_is_valid_through_its_mapping(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--map", name, str(SAMPLES[name])]) == 0
    assert "2 message(s), 2 valid, 0 invalid" in capsys.readouterr().out


def test_partner_center_export_maps_values_types_and_the_template() -> None:
    independent, shared = rows(SAMPLES["partner-center-export"], "partner-center-export")

    assert independent["externalReferenceId"] == "crm-csv-2001"
    assert independent["type"] == "Independent"  # "Partner only" through the value map
    assert shared["type"] == "Shared"  # "Co-sell with Microsoft"
    assert independent["customerProfile"]["address"]["country"] == "US"  # "United States"
    assert independent["customerProfile"]["size"] == "51to250employees"
    assert independent["details"]["dealValue"] == 45000  # "45,000" as a number
    assert independent["details"]["closingDateTime"] == "2027-06-30T00:00:00Z"
    assert shared["details"]["requirements"]["industries"] == [
        {"id": "Manufacturing"},
        {"id": "Retail"},
    ]
    assert independent["target"] == [{"type": "SolutionProfile", "id": "SOL-34104-EBB"}]
    assert independent["consent"]["consentToContact"] is True  # from the template
    assert "solutions" not in independent["details"]["requirements"]  # empty cell: nothing


def test_dynamics_export_maps_currency_names_and_us_dates() -> None:
    first, second = rows(SAMPLES["dynamics365-opportunity"], "dynamics365-opportunity")

    assert first["details"]["currency"] == "EUR"  # "Euro"
    assert first["details"]["closingDateTime"] == "2027-03-31T00:00:00Z"  # 03/31/2027
    assert first["customerProfile"]["address"]["country"] == "DE"
    assert first["qualification"] == "SalesQualified"  # Rating "Hot"
    assert "team" not in second["customerProfile"]  # no contact cells: no empty member


def test_an_xlsx_export_reads_like_the_csv(tmp_path: Path) -> None:
    import csv

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    with SAMPLES["dynamics365-opportunity"].open(encoding="utf-8") as file:
        for number, row in enumerate(csv.reader(file)):
            if number and row[13]:
                row[13] = float(row[13])  # type: ignore[call-overload]  # Excel keeps numbers
            sheet.append(row)
    sheet["P2"] = datetime(2027, 3, 31)  # and dates as dates
    path = tmp_path / "opportunities.xlsx"
    book.save(path)

    from_xlsx = rows(path, "dynamics365-opportunity")
    from_csv = rows(SAMPLES["dynamics365-opportunity"], "dynamics365-opportunity")

    assert from_xlsx == from_csv
    assert [m.source for m in read_inputs([str(path)], mapping="dynamics365-opportunity")] == [
        f"{path}:2",
        f"{path}:3",
    ]


def test_without_a_mapping_the_header_is_wire_paths(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text(
        "externalReferenceId;customerProfile.address.country;customerProfile.team[0].email\n"
        "crm-1;GB;a@example.com\n"
        ";;\n"
    )

    assert rows(path) == [
        {
            "externalReferenceId": "crm-1",
            "customerProfile": {"address": {"country": "GB"}, "team": [{"email": "a@example.com"}]},
        }
    ]


def test_a_header_that_is_not_wire_paths_needs_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Deal name (EUR),x\n1,2\n")
    with pytest.raises(InputError, match="--map"):
        read_inputs([str(path)])


def test_a_missing_required_column_and_the_wrong_mapping_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deals.csv"
    path.write_text("Deal name,Notes\nSomething,\n")
    assert main(["validate", "--map", "partner-center-export", str(path)]) == 2
    assert "'Referral ID'" in capsys.readouterr().err

    path.write_text("Unrelated,Columns\n1,2\n")
    assert main(["validate", "--map", "partner-center-export", str(path)]) == 2
    assert "none of its header's columns" in capsys.readouterr().err


def test_cells_a_type_cannot_convert_pass_on_as_text_for_the_contract_to_name() -> None:
    mapping = Mapping.model_validate(
        {
            "columns": {
                "Value": {"path": "details.dealValue", "type": "number"},
                "Country": {"path": "customerProfile.address.country", "type": "country"},
                "Size": {"path": "customerProfile.size", "values": {"Small": "1to9employees"}},
            }
        }
    )

    body = mapping.body({"Value": "lots", "Country": "Atlantis", "Size": " small "})

    assert body["details"]["dealValue"] == "lots"
    assert body["customerProfile"]["address"]["country"] == "Atlantis"
    assert body["customerProfile"]["size"] == "1to9employees"  # trimmed, any case


@pytest.mark.parametrize(
    ("cell", "kind", "expected"),
    [
        ("1,250.50", "number", 1250.5),
        ("42", "integer", 42),
        ("Yes", "boolean", True),
        ("0", "boolean", False),
        ("a; b ;", "list", ["a", "b"]),
        ("gbr", "country", "GB"),
    ],
)
def test_conversions(cell: str, kind: str, expected: Any) -> None:
    assert Column(path="x", type=kind).convert(cell) == expected  # type: ignore[arg-type]


def test_paths() -> None:
    assert parse_path("customerProfile.team[1].email") == ("customerProfile", "team", 1, "email")
    for bad in ("", ".a", "a..b", "[0]", "a[x]"):
        with pytest.raises(ValueError, match="wire path"):
            parse_path(bad)


def test_bad_mapping_files_say_where(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("columns:\n  A: [unclosed\n")
    with pytest.raises(Exception, match="not valid YAML at line 3 column 1"):
        load_mapping(str(path))
    path.write_text("columns:\n  A: {path: x, type: money}\n")
    with pytest.raises(Exception, match=r"columns\.A"):
        load_mapping(str(path))
    with pytest.raises(Exception, match="partner-center-export"):
        load_mapping("no-such-mapping")
