"""Column mappings: one row of a CSV or Excel export → one referral request body.

A mapping is a YAML file (or the name of a bundled one in `relay_cli/mappings/`):

    template:                 # constant fields every body starts from
      type: Independent
    columns:                  # header of a column → where its value goes in the body
      "Opportunity ID": externalReferenceId
      "Est. Revenue": {path: details.dealValue, type: number}
      "Currency": {path: details.currency, values: {"US Dollar": USD, "Euro": EUR}}
      "Contact email": customerProfile.team[0].email

Paths are dotted wire names with `[n]` for list items. An empty cell sets nothing. `values` maps a
cell (compared trimmed and case-insensitively) to the wire value; a cell it does not list, or one
`type` cannot convert, is passed on as text so the contract names the field that is wrong —
converting never fails a row and never quotes a cell. Without a mapping, the header row itself
must be wire paths.
"""

from __future__ import annotations

import copy
import itertools
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ValueType = Literal["string", "number", "integer", "boolean", "list", "country", "date"]
Segment = str | int

_SEGMENT: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")  # wire names are camelCase
_TRUE: Final = frozenset({"true", "yes", "y", "1"})
_FALSE: Final = frozenset({"false", "no", "n", "0"})
BUNDLED_SUFFIX: Final = ".yaml"


class MappingError(Exception):
    """A mapping that cannot be used (a usage error, exit 2). Never quotes cell values."""


def parse_path(path: str) -> tuple[Segment, ...]:
    """`customerProfile.team[0].email` → ("customerProfile", "team", 0, "email")."""
    segments: list[Segment] = []
    position = 0
    for match in _SEGMENT.finditer(path):
        gap = path[position : match.start()]
        if gap not in ("", ".") or (gap == "." and not segments):
            raise ValueError(f"not a wire path: {path!r}")
        name, index = match.groups()
        segments.append(int(index) if index is not None else name)
        position = match.end()
    if not segments or position != len(path) or isinstance(segments[0], int):
        raise ValueError(f"not a wire path: {path!r}")
    return tuple(segments)


class Column(BaseModel):
    """Where one column's cells go and how they are converted."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="dotted wire path, e.g. customerProfile.address.country")
    type: ValueType = "string"
    values: dict[str, Any] = Field(default_factory=dict, description="cell → wire value")
    separator: str = Field(";", description="for type list: what separates items in a cell")
    item: str | None = Field(None, description="for type list: wrap each item as {item: value}")
    format: str | None = Field(None, description="for type date: a strptime format")
    required: bool = Field(False, description="the header must have this column")

    @field_validator("path")
    @classmethod
    def _path_is_valid(cls, value: str) -> str:
        parse_path(value)
        return value

    def convert(self, cell: Any) -> Any:
        if isinstance(cell, str):
            cell = cell.strip()
        if self.values:
            lookup = {str(k).strip().casefold(): v for k, v in self.values.items()}
            key = str(cell).casefold()
            if key in lookup:
                return lookup[key]
        try:
            return _CONVERTERS[self.type](cell, self)
        except (ValueError, LookupError, TypeError):
            return cell if isinstance(cell, str) else str(cell)


class Mapping(BaseModel):
    """A whole mapping file."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    delimiter: str | None = Field(None, description="CSV delimiter (default: guessed)")
    sheet: str | None = Field(None, description=".xlsx: worksheet name (default: the first)")
    template: dict[str, Any] = Field(default_factory=dict)
    columns: dict[str, Column]

    @field_validator("columns", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"path": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @classmethod
    def identity(cls, header: list[str]) -> Mapping:
        """No mapping given: every column header is a wire path."""
        try:
            return cls(columns={name: Column(path=name) for name in header if name})
        except ValidationError as exc:
            raise MappingError(
                "without --map, every CSV header must be a wire path such as "
                f"customerProfile.address.country ({_first_problem(exc)})"
            ) from None

    def check_header(self, header: list[str], source: str) -> None:
        """Columns a mapping lists but a header lacks set nothing, unless `required`; a header
        with none of them is the wrong file or the wrong mapping."""
        present = set(header)
        if not present.intersection(self.columns):
            raise MappingError(f"{source}: none of its header's columns is in the mapping")
        missing = [n for n, c in self.columns.items() if c.required and n not in present]
        if missing:
            names = ", ".join(repr(m) for m in missing)
            raise MappingError(f"{source}: its header lacks required column(s) {names}")

    def body(self, row: dict[str, Any]) -> dict[str, Any]:
        """The request body for one row (header → cell)."""
        body = copy.deepcopy(self.template)
        for name, column in self.columns.items():
            cell = row.get(name)
            if cell is None or (isinstance(cell, str) and not cell.strip()):
                continue
            _put(body, parse_path(column.path), column.convert(cell))
        return _compact(body)


def load_mapping(name_or_path: str) -> Mapping:
    """A mapping file, or a bundled mapping by name (`partner-center-export`)."""
    import yaml

    path = Path(name_or_path)
    bundled = resources.files("relay_cli.mappings") / (path.name + BUNDLED_SUFFIX)
    try:
        if path.is_file():
            text = path.read_text(encoding="utf-8-sig")
        elif path.suffix == "" and bundled.is_file():
            text = bundled.read_text(encoding="utf-8")
        else:
            raise MappingError(
                f"{name_or_path}: no such mapping file or bundled mapping "
                f"(bundled: {', '.join(bundled_mappings())})"
            )
        raw = yaml.safe_load(text)
    except OSError as exc:
        raise MappingError(f"{name_or_path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise MappingError(f"{name_or_path}: not valid YAML{where}") from None
    try:
        return Mapping.model_validate(raw)
    except ValidationError as exc:
        raise MappingError(f"{name_or_path}: {_first_problem(exc)}") from None


def bundled_mappings() -> list[str]:
    folder = resources.files("relay_cli.mappings")
    return sorted(
        entry.name.removesuffix(BUNDLED_SUFFIX)
        for entry in folder.iterdir()
        if entry.name.endswith(BUNDLED_SUFFIX)
    )


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    return f"{where}: {error['msg']}"


def _put(body: dict[str, Any], segments: tuple[Segment, ...], value: Any) -> None:
    node: Any = body
    for here, after in itertools.pairwise(segments):
        child: Any = [] if isinstance(after, int) else {}
        if isinstance(here, int):
            while len(node) <= here:
                node.append(None)
            if node[here] is None:
                node[here] = child
            node = node[here]
        else:
            node = node.setdefault(here, child)
    last = segments[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = value


def _compact(value: Any) -> Any:
    """Drop list holes (team[1] set without team[0]) so lists stay dense."""
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_compact(v) for v in value if v is not None]
    return value


def _number(cell: Any, _: Column) -> int | float:
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return cell
    text = str(cell).replace(",", "").replace(" ", "")
    number = float(text)
    return (
        int(number)
        if number.is_integer() and "." not in text and "e" not in text.lower()
        else number
    )


def _integer(cell: Any, _: Column) -> int:
    number = _number(cell, _)
    if isinstance(number, float) and not number.is_integer():
        raise ValueError("not an integer")
    return int(number)


def _boolean(cell: Any, _: Column) -> bool:
    if isinstance(cell, bool):
        return cell
    text = str(cell).casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not a boolean")


def _list(cell: Any, column: Column) -> list[Any]:
    items = [item.strip() for item in str(cell).split(column.separator) if item.strip()]
    return [{column.item: item} for item in items] if column.item else items


def _country(cell: Any, _: Column) -> str:
    import pycountry

    code: str = pycountry.countries.lookup(str(cell)).alpha_2
    return code


def _date(cell: Any, column: Column) -> str:
    if isinstance(cell, datetime):  # Excel cells arrive as datetimes
        moment = cell
    elif column.format:
        moment = datetime.strptime(str(cell), column.format)  # naive: read as UTC below
    else:
        moment = datetime.fromisoformat(str(cell))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _string(cell: Any, _: Column) -> str:
    if isinstance(cell, datetime):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # an Excel id cell like 1002.0
    return str(cell)


_CONVERTERS: Final = {
    "string": _string,
    "number": _number,
    "integer": _integer,
    "boolean": _boolean,
    "list": _list,
    "country": _country,
    "date": _date,
}
