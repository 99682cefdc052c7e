"""OData list options for the sandbox: `$filter` compiled to a predicate, plus `$top`, `$skip`,
`$orderby`, `$select` and `$count`.

`$filter` text is parsed by `odata-query` (its lexer already turns `''` inside a string literal
into `'`); `_Compiler`, a `NodeVisitor`, turns the AST into Python closures once per distinct
filter (cached), and checks it on the way. Supported, as the fact sheet documents: `eq`, `ne`,
`and`, `or`, `not`, parentheses, property paths (`customerProfile/address/country`),
`coll/any(x: ...)` (and `coll/any()`), string, number, boolean, `null` and GUID literals (a GUID
may be written bare or quoted; bare GUIDs compare case-insensitively). `gt`, `ge`, `lt`, `le`
compare numbers, and date-times to a date-time or date literal (bare, as OData writes
`updatedDateTime gt 2024-05-01T10:00:00Z`, or quoted; an offset other than `Z` is honoured, none
means UTC), to the 100 ns the service writes; a value that is not a date-time matches nothing
(OData is tolerant, so is the sandbox: the change poller relies on this). Everything else
(functions, arithmetic, `in`, `all`) is refused with `FilterError`, and so is any syntax error:
the API turns it into a 400, never a 500. Top-level property names must
be Referral properties, so an unquoted enum value (`status eq New`) is an error, as in OData.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from odata_query import ast
from odata_query.exceptions import (
    ODataException,
    ParsingException,
    TokenizingException,
    UnknownFunctionException,
)
from odata_query.grammar import ODataLexer, ODataParser
from odata_query.visitor import NodeVisitor

from partner_sandbox.resource import TOP_LEVEL_KEYS

# Top-level properties a filter, $select or $orderby may name: every property of the resource.
PROPERTIES: Final = TOP_LEVEL_KEYS
ORDERABLE: Final = frozenset({"createdDateTime", "updatedDateTime"})
INDEXED: Final = frozenset({"id", "engagementId", "externalReferenceId"})
MAX_FILTER_LENGTH: Final = 4096
# [swagger] GetAllReferrals parameters: $expand, $filter, $select, $orderby, $top, $skip, $count;
# $skiptoken is what the documented nextLink carries. $expand is accepted and changes nothing
# (a referral has no navigation properties to expand).
SUPPORTED_OPTIONS: Final = frozenset(
    {"$filter", "$top", "$skip", "$orderby", "$select", "$count", "$expand", "$skiptoken"}
)

Env = Mapping[str, Any]  # lambda variables in scope
Getter = Callable[[Mapping[str, Any], Env], Any]


_ORDERING: Final[Mapping[type, Callable[[Any, Any], bool]]] = {
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
}
_INSTANT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def instant_ticks(text: str) -> int | None:
    """A date-time (or date) as 100 ns ticks since 1970 UTC; None when it is not one."""
    match = _INSTANT.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=datetime.UTC,
        )
    except ValueError:
        return None
    offset = 0
    if zone and zone.upper() != "Z":
        digits = zone[1:].replace(":", "")
        offset = (int(digits[:2]) * 60 + int(digits[2:])) * (1 if zone[0] == "+" else -1)
    seconds = int((moment - _EPOCH).total_seconds()) - offset * 60
    return seconds * 10_000_000 + int((fraction or "").ljust(7, "0")[:7])


def _ordered(compare: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    if isinstance(left, int | float) and isinstance(right, int | float):
        return compare(left, right)
    if isinstance(left, str) and isinstance(right, str):
        a, b = instant_ticks(left), instant_ticks(right)
        return a is not None and b is not None and compare(a, b)
    return False


class FilterError(ValueError):
    """A query option the sandbox refuses. The message never repeats values from the query."""


class _GuidLiteral(str):
    """A bare GUID literal: equal to a string that holds the same GUID in any letter case."""

    __slots__ = ()


class _InstantLiteral(str):
    """A bare date-time or date literal: equal to a string that holds the same instant."""

    __slots__ = ()


def _equal(left: Any, right: Any, ignore_case: bool = False) -> bool:
    if isinstance(left, _InstantLiteral) or isinstance(right, _InstantLiteral):
        a = instant_ticks(left) if isinstance(left, str) else None
        b = instant_ticks(right) if isinstance(right, str) else None
        return a is not None and a == b
    if (
        isinstance(left, _GuidLiteral) or isinstance(right, _GuidLiteral) or ignore_case
    ) and isinstance(left, str):
        return isinstance(right, str) and left.lower() == right.lower()
    if isinstance(left, bool) or isinstance(right, bool):  # true must not equal 1
        return type(left) is type(right) and left == right
    return bool(left == right)


@dataclass(frozen=True, slots=True)
class _Compiled:
    boolean: bool  # a condition (True) or a value (False)
    get: Getter


class _Compiler(NodeVisitor):
    def __init__(self, ignore_case: bool = False) -> None:
        self._variables: list[str] = []
        self._ignore_case = ignore_case
        self.names: set[str] = set()  # top-level properties the filter names

    def compile(self, node: ast._Node) -> _Compiled:
        result = self.visit(node)
        if not isinstance(result, _Compiled):  # pragma: no cover - every visit_ returns one
            raise FilterError("$filter could not be understood")
        return result

    def _condition(self, node: ast._Node) -> Getter:
        compiled = self.compile(node)
        if not compiled.boolean:
            raise FilterError("$filter needs a condition here (a comparison, any(), not, ...)")
        return compiled.get

    def _value(self, node: ast._Node) -> Getter:
        compiled = self.compile(node)
        if compiled.boolean:
            raise FilterError("$filter compares a condition as if it were a value")
        return compiled.get

    def generic_visit(self, node: ast._Node) -> _Compiled:
        raise FilterError(f"$filter: {_describe(node)} is not supported by the Referrals API")

    # ---- values --------------------------------------------------------------------------

    def visit_Identifier(self, node: ast.Identifier) -> _Compiled:
        if node.namespace:
            raise FilterError("$filter: qualified names are not supported")
        name = node.name
        if name in self._variables:
            return _Compiled(False, lambda _referral, env: env.get(name))
        if name not in PROPERTIES:
            raise FilterError("$filter names a property that a referral does not have")
        self.names.add(name)
        return _Compiled(False, lambda referral, _env: referral.get(name))

    def visit_Attribute(self, node: ast.Attribute) -> _Compiled:
        owner = self._value(node.owner)
        attr = node.attr

        def get(referral: Mapping[str, Any], env: Env) -> Any:
            value = owner(referral, env)
            return value.get(attr) if isinstance(value, dict) else None

        return _Compiled(False, get)

    def _constant(self, value: Any) -> _Compiled:
        return _Compiled(False, lambda _referral, _env: value)

    def visit_String(self, node: ast.String) -> _Compiled:
        return self._constant(node.val)

    def visit_GUID(self, node: ast.GUID) -> _Compiled:
        return self._constant(_GuidLiteral(node.val))

    def visit_Integer(self, node: ast.Integer) -> _Compiled:
        return self._constant(node.py_val)

    def visit_Float(self, node: ast.Float) -> _Compiled:
        return self._constant(node.py_val)

    def visit_Boolean(self, node: ast.Boolean) -> _Compiled:
        return self._constant(node.py_val)

    def visit_Null(self, node: ast.Null) -> _Compiled:
        return self._constant(None)

    def visit_DateTime(self, node: ast.DateTime) -> _Compiled:
        return self._constant(_InstantLiteral(node.val))

    def visit_Date(self, node: ast.Date) -> _Compiled:
        return self._constant(_InstantLiteral(node.val))

    # ---- conditions ----------------------------------------------------------------------

    def visit_Compare(self, node: ast.Compare) -> _Compiled:
        ordering = _ORDERING.get(type(node.comparator))
        if ordering is not None:
            low, high = self._value(node.left), self._value(node.right)
            return _Compiled(True, lambda r, env: _ordered(ordering, low(r, env), high(r, env)))
        if not isinstance(node.comparator, ast.Eq | ast.NotEq):
            raise FilterError(
                f"$filter: the operator {_describe(node.comparator)} is not supported; "
                "use eq, ne, gt, ge, lt or le"
            )
        left, right = self._value(node.left), self._value(node.right)
        ci = self._ignore_case
        if isinstance(node.comparator, ast.Eq):
            return _Compiled(True, lambda r, env: _equal(left(r, env), right(r, env), ci))
        return _Compiled(True, lambda r, env: not _equal(left(r, env), right(r, env), ci))

    def visit_BoolOp(self, node: ast.BoolOp) -> _Compiled:
        left, right = self._condition(node.left), self._condition(node.right)
        if isinstance(node.op, ast.And):
            return _Compiled(True, lambda r, env: bool(left(r, env) and right(r, env)))
        return _Compiled(True, lambda r, env: bool(left(r, env) or right(r, env)))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> _Compiled:
        if not isinstance(node.op, ast.Not):
            return self.generic_visit(node)
        operand = self._condition(node.operand)
        return _Compiled(True, lambda r, env: not operand(r, env))

    def visit_CollectionLambda(self, node: ast.CollectionLambda) -> _Compiled:
        if not isinstance(node.operator, ast.Any):
            raise FilterError("$filter: only any() is supported on collections")
        owner = self._value(node.owner)
        if node.lambda_ is None:
            return _Compiled(True, lambda r, env: _non_empty_list(owner(r, env)))
        variable = node.lambda_.identifier.name
        if variable in PROPERTIES or variable in self._variables:
            raise FilterError("$filter: a lambda variable must not reuse a property name")
        self._variables.append(variable)
        try:
            body = self._condition(node.lambda_.expression)
        finally:
            self._variables.pop()

        def any_item(referral: Mapping[str, Any], env: Env) -> bool:
            items = owner(referral, env)
            if not isinstance(items, list):
                return False
            return any(body(referral, {**env, variable: item}) for item in items)

        return _Compiled(True, any_item)


def _non_empty_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0


def _describe(node: ast._Node) -> str:
    names = {
        "Lt": "lt",
        "LtE": "le",
        "Gt": "gt",
        "GtE": "ge",
        "In": "in",
        "Call": "a function call",
        "BinOp": "arithmetic",
        "DateTime": "a date-time literal",
        "Date": "a date literal",
        "Time": "a time literal",
        "Duration": "a duration literal",
        "List": "a list",
        "Geography": "a geography literal",
        "UnaryOp": "a negation",
    }
    return names.get(type(node).__name__, type(node).__name__)


def _equalities(node: ast._Node) -> list[tuple[str, str]]:
    """Indexed `field eq 'value'` terms every match must satisfy (they sit under `and` only)."""
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return _equalities(node.left) + _equalities(node.right)
    if isinstance(node, ast.Compare) and isinstance(node.comparator, ast.Eq):
        for field, literal in ((node.left, node.right), (node.right, node.left)):
            if (
                isinstance(field, ast.Identifier)
                and not field.namespace
                and field.name in INDEXED
                and isinstance(literal, ast.String | ast.GUID)
            ):
                # Ids are stored in lower case; a bare GUID matches in any case.
                value = literal.val.lower() if isinstance(literal, ast.GUID) else literal.val
                return [(field.name, value)]
    return []


@dataclass(frozen=True, slots=True)
class Filter:
    """A compiled `$filter`: `matches(referral)` and the indexed equalities it implies."""

    text: str
    predicate: Getter
    equalities: tuple[tuple[str, str], ...]
    names: frozenset[str] = frozenset()  # top-level properties it names

    def matches(self, referral: Mapping[str, Any]) -> bool:
        return bool(self.predicate(referral, {}))


@lru_cache(maxsize=1024)
def compile_filter(text: str, ignore_case: bool = False) -> Filter:
    """Parse and compile a `$filter` value. Raises `FilterError` for anything not supported.
    `ignore_case` compares strings with `eq`/`ne` ignoring case (fault `filter-ci`); such a
    filter uses no index (the indexes are exact)."""
    if not text.strip():
        raise FilterError("$filter is empty")
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"$filter is longer than {MAX_FILTER_LENGTH} characters")
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(text))
    except TokenizingException as exc:
        raise FilterError(f"$filter syntax error at position {exc.token.index}") from None
    except ParsingException as exc:
        where = "end" if exc.token is None else f"position {exc.token.index}"
        raise FilterError(f"$filter syntax error at {where}") from None
    except UnknownFunctionException as exc:
        if exc.function_name == "not":  # `not(x)`: OData needs whitespace after `not`
            raise FilterError("$filter: write 'not (...)' with a space after not") from None
        raise FilterError(
            "$filter: a function call is not supported by the Referrals API"
        ) from None
    except ODataException as exc:
        raise FilterError(f"$filter is not supported: {type(exc).__name__}") from None
    except Exception:  # the grammar library must never turn a bad query into a 500
        raise FilterError("$filter could not be parsed") from None
    if tree is None:
        raise FilterError("$filter is empty")
    compiler = _Compiler(ignore_case)
    try:
        compiled = compiler.compile(tree)
    except RecursionError:
        raise FilterError("$filter is nested too deeply") from None
    if not compiled.boolean:
        raise FilterError("$filter must be a condition, e.g. status eq 'Active'")
    equalities = () if ignore_case else tuple(_equalities(tree))
    return Filter(text, compiled.get, equalities, frozenset(compiler.names))


@dataclass(frozen=True, slots=True)
class ListQuery:
    filter: Filter | None
    top: int
    skip: int
    orderby: tuple[tuple[str, bool], ...]  # (property, descending)
    select: tuple[str, ...] | None
    count: bool

    def next_page_params(self) -> dict[str, str]:
        """The query options of the following page (same filter, order, select and count)."""
        params: dict[str, str] = {}
        if self.filter is not None:
            params["$filter"] = self.filter.text
        if self.orderby:
            params["$orderby"] = ",".join(f"{p} {'desc' if d else 'asc'}" for p, d in self.orderby)
        if self.select is not None:
            params["$select"] = ",".join(self.select)
        if self.count:
            params["$count"] = "true"
        params["$top"] = str(self.top)
        params["$skip"] = str(self.skip + self.top)
        return params


def _int_option(name: str, raw: str, minimum: int, maximum: int | None = None) -> int:
    text = raw.strip()
    if not text.isdigit():
        raise FilterError(f"{name} must be a non-negative integer")
    value = int(text)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f" and {maximum}" if maximum is not None else ""
        raise FilterError(f"{name} must be between {minimum}{bound}")
    return value


def skiptoken(params: Mapping[str, str]) -> str:
    """An opaque `$skiptoken` that carries the next page's options (documented nextLink style)."""
    raw = json.dumps(dict(params), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _from_skiptoken(token: str) -> dict[str, str]:
    try:
        options = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        raise FilterError("$skiptoken is not valid") from None
    if not isinstance(options, dict) or not all(
        isinstance(k, str) and k in SUPPORTED_OPTIONS and isinstance(v, str)
        for k, v in options.items()
    ):
        raise FilterError("$skiptoken is not valid")
    return options


def parse_list_query(params: Sequence[tuple[str, str]], page_size: int) -> ListQuery:
    """Read the OData options of a list request. Raises `FilterError` (a 400) when one is bad."""
    options: dict[str, str] = {}
    for key, value in params:
        if not key.startswith("$"):
            continue  # non-OData parameters are ignored, as services do
        if key not in SUPPORTED_OPTIONS:
            raise FilterError(f"the query option {key} is not supported")
        if key in options:
            raise FilterError(f"the query option {key} is given more than once")
        options[key] = value
    if "$skiptoken" in options:
        options.update(_from_skiptoken(options.pop("$skiptoken")))
    filter_ = compile_filter(options["$filter"]) if "$filter" in options else None
    top = _int_option("$top", options["$top"], 1, page_size) if "$top" in options else page_size
    skip = _int_option("$skip", options["$skip"], 0) if "$skip" in options else 0
    orderby: list[tuple[str, bool]] = []
    if "$orderby" in options:
        for part in options["$orderby"].split(","):
            words = part.split()
            if not words or len(words) > 2 or words[0] not in ORDERABLE:
                raise FilterError("$orderby supports createdDateTime and updatedDateTime only")
            direction = words[1].lower() if len(words) == 2 else "asc"
            if direction not in ("asc", "desc"):
                raise FilterError("$orderby direction must be asc or desc")
            orderby.append((words[0], direction == "desc"))
    select: tuple[str, ...] | None = None
    if "$select" in options:
        names = tuple(name.strip() for name in options["$select"].split(","))
        if not names or any(name not in PROPERTIES for name in names):
            raise FilterError("$select names a property that a referral does not have")
        select = names
    count = False
    if "$count" in options:
        flag = options["$count"].strip().lower()
        if flag not in ("true", "false"):
            raise FilterError("$count must be true or false")
        count = flag == "true"
    return ListQuery(filter_, top, skip, tuple(orderby), select, count)
