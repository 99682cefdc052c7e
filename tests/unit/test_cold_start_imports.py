"""Cold start: the worker imports `function_app` to index the functions; the SDKs and our models
load on the first message instead (bench/coldstart.py measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import coldstart

REPO = Path(__file__).resolve().parents[2]
# The SDKs bench/coldstart.py reports on, plus our own modules that build models at import.
HEAVY = (*coldstart.HEAVY, "shared.invocation", "shared.handlers", "shared.contracts")


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"import json, sys; {code}; print(json.dumps([h for h in {HEAVY!r} if h in sys.modules]))"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter on our own code
        [sys.executable, "-c", probe],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_importing_the_app_loads_no_sdk_and_no_model() -> None:
    assert _loaded_after("import function_app") == []


def test_the_functions_are_indexed_without_them() -> None:
    code = (
        "import function_app; "
        "names = sorted(f.get_function_name() for f in function_app.app.get_functions())"
    )
    assert _loaded_after(code) == []


def test_the_probe_sees_a_heavy_import() -> None:
    # The check above can fail: importing the invocation path does load them.
    assert "pydantic" in _loaded_after("import shared.invocation")
