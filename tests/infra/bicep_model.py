"""A small reader over pycep-parser's JSON for the infra cross-checks.

pycep turns a Bicep file into JSON in which string literals and symbol references both become
plain strings (`'Standard'` and `location` alike), property access becomes nested
`property_accessor` operators and a conditional resource wraps its body as
`{"condition": ..., "config": ...}`. This module hides those shapes and follows values across
files: a module parameter is resolved to the expression the calling template passed, and
`someModule.outputs.x` to that module's output - so a test can ask "which literal name does this
role assignment's scope end up with?" without a Bicep compiler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, cast

from pycep import BicepParser

INFRA = Path(__file__).resolve().parents[2] / "infra"
MAIN = INFRA / "main.bicep"


class Unresolved:
    """A value that comes from outside the templates (a top-level parameter or a runtime value)."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"Unresolved({self.what})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unresolved) and other.what == self.what

    def __hash__(self) -> int:
        return hash(self.what)


@cache
def parse(path: Path) -> dict[str, Any]:
    return cast(dict[str, Any], BicepParser().parse(file_path=path))


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def body(declaration: dict[str, Any]) -> dict[str, Any]:
    """The object of a resource or module, unwrapping `= if (cond) {...}`."""
    config: dict[str, Any] = declaration["config"]
    if set(config) == {"condition", "config"}:
        inner: dict[str, Any] = config["config"]
        return inner
    return config


def condition(declaration: dict[str, Any]) -> Any:
    config = declaration["config"]
    return config["condition"] if set(config) == {"condition", "config"} else None


def accessor_chain(value: Any) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"], or None when the value is not a plain property access."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "property_accessor":
        operands = value["operator"]["operands"]
        head = operands["operand_1"]
        rest = accessor_chain(operands["operand_2"])
        if isinstance(head, str) and rest is not None:
            return [head, *rest]
    return None


@dataclass
class Scope:
    """One template instantiated with the argument expressions its caller passed."""

    path: Path
    arguments: dict[str, Any] = field(default_factory=dict)
    caller: Scope | None = None

    @property
    def template(self) -> dict[str, Any]:
        return parse(self.path)

    @property
    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = self.template.get("parameters", {})
        return params

    @property
    def variables(self) -> dict[str, Any]:
        variables: dict[str, Any] = self.template.get("variables", {})
        return variables

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template.get("resources", {})
        return resources

    @property
    def modules(self) -> dict[str, Any]:
        modules: dict[str, Any] = self.template.get("modules", {})
        return modules

    @property
    def outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = self.template.get("outputs", {})
        return outputs

    def module(self, symbol: str) -> Scope:
        declaration = self.modules[symbol]
        path = (self.path.parent / declaration["detail"]["path"]).resolve()
        return Scope(path, dict(body(declaration).get("params", {})), self)

    def resources_of_type(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["type"] == type_}

    def resolve(self, value: Any) -> Any:
        """Follow symbols to the literal they stand for.

        A parameter of main.bicep resolves to Unresolved(<its name>): its value is azd's.
        """
        chain = accessor_chain(value)
        if chain is None:
            return value  # a function call, an operator or a literal of another type
        head, *rest = chain
        if not rest:
            return self._resolve_symbol(head)
        if head in self.modules and rest[0] == "outputs" and len(rest) == 2:
            child = self.module(head)
            return child.resolve(child.outputs[rest[1]]["value"])
        if head in self.resources and rest == ["name"]:
            return self.resolve(body(self.resources[head])["name"])
        if head in self.variables and len(rest) == 1:
            variable = self.variables[head]["value"]
            if isinstance(variable, dict) and rest[0] in variable:
                return self.resolve(variable[rest[0]])
        return Unresolved(".".join(chain))

    def _resolve_symbol(self, name: str) -> Any:
        if name in self.params:
            if self.caller is None:
                return Unresolved(name)  # a deployment parameter: azd decides its value
            if name in self.arguments:
                return self.caller.resolve(self.arguments[name])
            default = self.params[name].get("default")
            return Unresolved(name) if default is None else default
        if name in self.variables:
            return self.resolve(self.variables[name]["value"])
        return name  # a string literal

    def is_param(self, value: Any, name: str) -> bool:
        """True when `value` is a direct reference to this template's parameter `name`."""
        return value == name and name in self.params

    def resource_of(self, symbol: str) -> dict[str, Any]:
        return self.resources[symbol]

    def parent_chain(self, symbol: str) -> list[tuple[str, Any]]:
        """[(type, resolved name), ...] from the resource up through its `parent:` links."""
        chain: list[tuple[str, Any]] = []
        current: str | None = symbol
        while current is not None:
            declaration = self.resources[current]
            config = body(declaration)
            chain.append((declaration["type"], self.resolve(config["name"])))
            parent = config.get("parent")
            current = parent if isinstance(parent, str) else None
        return chain


def main_scope() -> Scope:
    return Scope(MAIN)


def comment_before(path: Path, symbol: str) -> str | None:
    """The `//` comment line right above `resource <symbol> ...`, if any."""
    lines = path.read_text().splitlines()
    pattern = re.compile(rf"^resource {re.escape(symbol)} ")
    for index, line in enumerate(lines):
        if pattern.match(line) and index > 0 and lines[index - 1].lstrip().startswith("//"):
            return lines[index - 1].strip()
    return None


# What a uniqueString() looks like: fills holes the templates cannot resolve offline.
TOKEN = "abcdefghij123"


def render(scope: Scope, value: str) -> str:
    """An interpolated string with each `${symbol}` resolved through `scope` where possible."""

    def fill(match: re.Match[str]) -> str:
        resolved = scope.resolve(match.group(1).strip())
        return render(scope, resolved) if isinstance(resolved, str) else TOKEN

    return re.sub(r"\$\{([^}]*)\}", fill, value)
