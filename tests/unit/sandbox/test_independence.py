"""The sandbox models Microsoft's service, not our contract: it imports nothing from `shared/`."""

from __future__ import annotations

import ast
from pathlib import Path

import partner_sandbox

PACKAGE = Path(partner_sandbox.__file__).parent


def imported_modules(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):  # every import, also inside functions and TYPE_CHECKING blocks
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
    return names


def test_no_sandbox_module_imports_shared() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 10  # the walk found the package

    offenders = {
        str(module.relative_to(PACKAGE)): sorted(
            name
            for name in imported_modules(ast.parse(module.read_text(), str(module)))
            if name == "shared" or name.startswith("shared.")
        )
        for module in modules
    }

    assert {module: names for module, names in offenders.items() if names} == {}


def test_the_walk_sees_imports_anywhere() -> None:
    tree = ast.parse(
        "import os\n"
        "def f():\n"
        "    from shared.contracts import x\n"
        "    import shared.telemetry\n"
        "    importlib.import_module('shared.settings')\n"
    )

    assert imported_modules(tree) == {
        "os",
        "shared.contracts",
        "shared.telemetry",
        "shared.settings",
    }
