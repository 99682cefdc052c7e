"""The dependency rules of docs/architecture.md ("Layers"), checked on the source.

Every import counts: at module level, inside functions (the lazy imports that keep cold start
cheap are still dependencies) and under `if TYPE_CHECKING:` (a type named is a type depended
on). So a rule cannot be dodged by moving an import into a function.

The units are the first-level parts of `shared` (`shared/handlers/`, `shared/settings.py`, …).
"""

from __future__ import annotations

import ast
import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from tests.conftest import REPO

SHARED: Final = REPO / "shared"

# Top to bottom; a unit may import its own modules and units of LOWER layers only (not its peers).
LAYERS: Final[tuple[frozenset[str], ...]] = (
    frozenset({"invocation"}),  # what a function body runs: handler inside telemetry
    frozenset({"bootstrap"}),  # the composition root: settings -> adapters
    frozenset({"handlers"}),  # the logic, against ports
    frozenset({"partner_api"}),  # adapters (each package: its port and its adapters)
    frozenset({"auth", "ledger"}),
    frozenset({"telemetry"}),  # hooks the adapters call; the tracing publisher wraps the port
    frozenset({"publishing"}),
    frozenset({"contracts"}),  # wire models and events: depend on nothing but the vocabulary
    frozenset({"settings"}),
    frozenset({"identity", "loopback", "names", "store_urls", "__init__"}),  # leaves
)
# `shared.names` is the vocabulary (entity, property and event names, constants only): the one
# unit contracts may import besides their own package.
CONTRACTS_MAY_IMPORT: Final = frozenset({"contracts", "names"})
DEV_ONLY: Final = ("partner_sandbox", "local_host", "relay_cli", "bench", "devtools", "tests")
DEV_TOOLS: Final = ("relay_cli", "local_host", "bench")

FORBIDDEN_IN_HANDLERS = ("httpx", "msal", "azure.servicebus", "azure.data.tables", "azure.identity")
ADAPTERS = [
    "shared/partner_api/client.py",
    "shared/partner_api/transport.py",
    "shared/auth/sam_provider.py",
    "shared/auth/stores.py",
    "shared/ledger/table.py",
    "shared/ledger/memory.py",
    "shared/publishing/servicebus.py",
    "shared/publishing/memory.py",
]


@dataclass(frozen=True)
class Import:
    module: str  # the module imported from (absolute)
    names: tuple[str, ...]  # the names taken from it (empty for `import x`)
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, source: str | None = None) -> Iterator[Import]:
    """Every import in the file, wherever it stands (module, function, TYPE_CHECKING block)."""
    tree = ast.parse(path.read_text() if source is None else source, filename=str(path))
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this file's package
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield Import(base, tuple(a.name for a in node.names), node.lineno)


def unit_of(module: str) -> str | None:
    """The first-level part of `shared` a module belongs to (None outside `shared`)."""
    parts = module.split(".")
    if parts[0] != "shared":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def targets(found: Import) -> set[str]:
    """The shared units an import depends on (`from shared import names` → names)."""
    if found.module == "shared":
        units = set()
        for name in found.names:
            is_part = (SHARED / name).is_dir() or (SHARED / f"{name}.py").is_file()
            units.add(name if is_part else "__init__")
        return units
    unit = unit_of(found.module)
    return {unit} if unit else set()


def shared_files() -> list[Path]:
    return sorted(SHARED.rglob("*.py"))


def dependencies() -> dict[str, dict[str, list[str]]]:
    """unit -> {unit it imports -> ["file:line", ...]}."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in shared_files():
        unit = unit_of(module_name(path))
        assert unit is not None
        edges = graph.setdefault(unit, {})
        for found in imports_of(path):
            for target in targets(found) - {unit}:
                edges.setdefault(target, []).append(f"{path.relative_to(REPO)}:{found.line}")
    return graph


def layer_of(unit: str) -> int:
    for index, layer in enumerate(LAYERS):
        if unit in layer:
            return index
    raise AssertionError(f"shared/{unit} is in no layer: add it to LAYERS and docs/architecture.md")


# ---- the checker itself can fail ---------------------------------------------------------------


def test_function_level_and_type_checking_imports_count() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from shared.handlers.common import Outcome\n"
        "def later():\n"
        "    import shared.telemetry.tracing\n"
        "    from shared import names, __version__\n"
    )
    found = imports_of(SHARED / "contracts" / "probe.py", source)
    assert [t for i in found for t in sorted(targets(i))] == [
        "handlers",
        "telemetry",
        "__init__",
        "names",
    ]


def test_relative_imports_are_resolved() -> None:
    source = "from . import setup\nfrom ..handlers import common\n"
    found = imports_of(SHARED / "telemetry" / "probe.py", source)
    assert [i.module for i in found] == ["shared.telemetry", "shared.handlers"]


# ---- the rules ---------------------------------------------------------------------------------


def test_every_shared_unit_has_a_layer() -> None:
    units = {unit_of(module_name(p)) for p in shared_files()}
    for unit in units:
        assert unit is not None
        layer_of(unit)


def test_imports_point_down_the_layers() -> None:
    upward = [
        f"{unit} (layer {layer_of(unit)}) imports {target} (layer {layer_of(target)}): {where[0]}"
        for unit, edges in sorted(dependencies().items())
        for target, where in sorted(edges.items())
        if layer_of(target) <= layer_of(unit)
    ]
    assert upward == []


def test_contracts_depend_on_nothing_but_the_vocabulary() -> None:
    edges = dependencies().get("contracts", {})
    assert set(edges) <= CONTRACTS_MAY_IMPORT, edges
    # ... and the vocabulary itself depends on nothing.
    assert dependencies().get("names", {}) == {}


def test_telemetry_does_not_import_handlers() -> None:
    assert "handlers" not in dependencies().get("telemetry", {})


def test_no_import_cycles_among_shared_units() -> None:
    graph = {unit: set(edges) for unit, edges in dependencies().items()}

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph.get(start, ()))
        while todo:
            unit = todo.pop()
            if unit not in seen:
                seen.add(unit)
                todo.extend(graph.get(unit, ()))
        return seen

    reach = {unit: reachable(unit) for unit in graph}
    cycles = {
        tuple(sorted({unit} | {other for other in reach[unit] if unit in reach.get(other, ())}))
        for unit in graph
        if unit in reach[unit]
    }
    assert sorted(cycles) == []


def test_shared_imports_no_dev_only_package() -> None:
    offending = [
        f"{path.relative_to(REPO)}:{found.line} imports {found.module}"
        for path in shared_files()
        for found in imports_of(path)
        if found.module.split(".")[0] in DEV_ONLY
    ]
    assert offending == []


def funcignore() -> list[str]:
    lines = (REPO / ".funcignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(relative: Path, patterns: list[str]) -> bool:
    """gitignore semantics for the pattern kinds .funcignore uses (names and globs that match
    at any depth; a trailing `/` matches directories only)."""
    parts = relative.parts
    for pattern in patterns:
        directory_only = pattern.endswith("/")
        name = pattern.rstrip("/")
        candidates = parts[:-1] if directory_only else parts
        if any(fnmatch.fnmatchcase(part, name) for part in candidates):
            return True
    return False


def deployed_files() -> list[Path]:
    """What `func`/azd publish: every file of the checkout that .funcignore does not exclude."""
    patterns = funcignore()
    out: list[Path] = []
    for folder, directories, files in os.walk(REPO):
        here = Path(folder).relative_to(REPO)
        # An excluded directory is not descended into (.venv, node_modules, ...).
        directories[:] = [d for d in directories if not ignored(here / d / "x", patterns)]
        out += [here / f for f in files if not ignored(here / f, patterns)]
    return sorted(out)


# Test tooling of the OpenTelemetry SDK: only the dev-only local pipeline may use it.
IN_MEMORY_TELEMETRY: Final = ("in_memory", "InMemory")


def test_the_deployed_package_holds_no_dev_only_code() -> None:
    patterns = funcignore()
    assert all("/" not in p.rstrip("/") for p in patterns), "the matcher reads names only"
    files = deployed_files()
    assert Path("function_app.py") in files
    assert Path("shared/settings.py") in files
    assert Path("tests/conftest.py") not in files  # the matcher does exclude
    dev_only = [f for f in files if f.parts[0] in DEV_ONLY]
    assert dev_only == []
    local_telemetry = [
        f"{relative}:{found.line} {found.module}"
        for relative in files
        if relative.suffix == ".py"
        for found in imports_of(REPO / relative)
        if any(
            marker in found.module or any(marker in n for n in found.names)
            for marker in IN_MEMORY_TELEMETRY
        )
    ]
    assert local_telemetry == [], "local telemetry belongs in local_host/ (not deployed)"


def test_funcignore_excludes_every_dev_only_package() -> None:
    present = [name for name in DEV_ONLY if (REPO / name).is_dir()]
    assert present, "no dev-only package found: the check would prove nothing"
    assert {f"{name}/" for name in present} <= set(funcignore())


def test_dev_tools_use_only_public_names_of_shared() -> None:
    """relay_cli, local_host and bench may use what shared exports, not its private helpers."""
    offending: list[str] = []
    for tool in DEV_TOOLS:
        for path in sorted((REPO / tool).rglob("*.py")):
            tree = ast.parse(path.read_text())
            aliases: set[str] = set()  # local names bound to shared modules
            for found in imports_of(path):
                if unit_of(found.module) is None and found.module != "shared":
                    continue
                private = [found.module] if "._" in found.module else []
                private += [n for n in found.names if n.startswith("_") and n != "__version__"]
                offending += [f"{path.relative_to(REPO)}:{found.line} {p}" for p in private]
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    aliases |= {
                        a.asname or a.name.split(".")[0]
                        for a in node.names
                        if a.name.startswith("shared")
                    }
                elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("shared"):
                    aliases |= {a.asname or a.name for a in node.names}
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name)
                    and node.value.id in aliases
                ):
                    offending.append(
                        f"{path.relative_to(REPO)}:{node.lineno} {node.value.id}.{node.attr}"
                    )
    assert offending == []


# ---- ports and adapters ------------------------------------------------------------------------


def imported_modules(path: Path) -> set[str]:
    return {found.module for found in imports_of(path)} | {
        f"{found.module}.{name}" for found in imports_of(path) for name in found.names
    }


@pytest.mark.parametrize("path", sorted((REPO / "shared" / "handlers").glob("*.py")), ids=str)
def test_handlers_import_no_sdk(path: Path) -> None:
    offending = {
        name
        for name in imported_modules(path)
        for sdk in FORBIDDEN_IN_HANDLERS
        if name == sdk or name.startswith(sdk + ".")
    }
    assert offending == set()


@pytest.mark.parametrize("relative", ADAPTERS)
def test_adapters_never_import_handlers(relative: str) -> None:
    imports = imported_modules(REPO / relative)
    assert not {n for n in imports if n.startswith("shared.handlers")}


def test_blueprints_hold_no_logic() -> None:
    for blueprint in ("create_referral/__init__.py", "connect_referral/__init__.py"):
        tree = ast.parse((REPO / blueprint).read_text())
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef)]
        assert len(functions) == 1
        (function,) = functions
        # An import and a hand-over: anything more is logic that belongs in shared.handlers.
        assert len(function.body) <= 3, f"{blueprint} grew logic"
