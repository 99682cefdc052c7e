"""The dependency rule of docs/architecture.md, checked on the source: handlers speak to ports,
adapters never reach back into handlers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

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


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


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
