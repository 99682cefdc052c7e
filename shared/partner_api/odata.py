"""OData `$filter` builder: expressions are ASTs (`odata-query`), rendered with escaped literals.

Values never reach the query as text: each becomes an AST literal, and string literals are
rendered with `'` doubled (`O'Brien` -> `'O''Brien'`, OData ABNF `SQUOTE-in-string`), so no value
can change the shape of the query. `odata-query`'s own renderer does not escape quotes, hence the
visitor subclass.

    and_(eq("externalReferenceId", "crm-42"), eq("type", "Shared")).render()
    == "externalReferenceId eq 'crm-42' and type eq 'Shared'"
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from odata_query import ast
from odata_query.roundtrip import AstToODataVisitor

# A property path segment as the API uses them (camelCase identifiers, `/` between segments).
_SEGMENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class _EscapingVisitor(AstToODataVisitor):
    def visit_String(self, node: ast.String) -> str:
        return "'" + node.val.replace("'", "''") + "'"


@dataclass(frozen=True)
class Filter:
    """A filter expression; `render()` gives the `$filter` value."""

    node: ast._Node

    def render(self) -> str:
        text: str = _EscapingVisitor().visit(self.node)
        return text

    def __str__(self) -> str:
        return self.render()


def _path(field_path: str) -> ast._Node:
    segments = field_path.split("/")
    for segment in segments:
        if not segment or segment[0].isdigit() or not set(segment) <= _SEGMENT_CHARS:
            raise ValueError(f"not an OData property path: {field_path!r}")
    node: ast._Node = ast.Identifier(segments[0])
    for segment in segments[1:]:
        node = ast.Attribute(node, segment)
    return node


def eq(field_path: str, value: str | uuid.UUID) -> Filter:
    """`field_path eq 'value'`. A UUID is written in canonical form as a string literal, the way
    the API documents `engagementId eq '<guid>'`."""
    literal = str(value) if isinstance(value, uuid.UUID) else value
    if not isinstance(literal, str):
        raise TypeError("eq() compares with a string or a UUID")
    return Filter(ast.Compare(ast.Eq(), _path(field_path), ast.String(literal)))


def guid_eq(field_path: str, value: str | uuid.UUID) -> Filter:
    """Like `eq`, but first checks the value is a GUID (so a typo fails here, not at the API)."""
    return eq(field_path, value if isinstance(value, uuid.UUID) else uuid.UUID(value))


def and_(first: Filter, *rest: Filter) -> Filter:
    """All of the filters (left-associative `and`; the renderer adds parentheses where needed)."""
    node = first.node
    for other in rest:
        node = ast.BoolOp(ast.And(), node, other.node)
    return Filter(node)


def or_(first: Filter, *rest: Filter) -> Filter:
    """Any of the filters."""
    node = first.node
    for other in rest:
        node = ast.BoolOp(ast.Or(), node, other.node)
    return Filter(node)
