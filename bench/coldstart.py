"""Cold start: import time of `function_app` relative to `import azure.functions` alone.

    python bench/coldstart.py [--runs 10] [--json]

Each measurement is a fresh interpreter (this venv's Python, in the repository root, as the
Functions worker imports the app) that times one `import` with `time.perf_counter`. The two
imports alternate, `--runs` times each, and the medians are compared: `ratio` =
function_app / azure.functions. Goal: <= 1.5 — the SDKs (msal, httpx, azure-*, OpenTelemetry,
pydantic models...) are imported on the first invocation, not when the worker indexes the app.

Bytecode: the runs compile into a private `PYTHONPYCACHEPREFIX` (one untimed warm-up each), so
both imports read cached bytecode and nothing is written into the repository.
`heavy_modules_at_import` lists the heavy packages that importing `function_app` loaded anyway.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    "pydantic",
    "pydantic_settings",
    "httpx",
    "msal",
    "cryptography",
    "tenacity",
    "aiohttp",
    "azure.identity",
    "azure.keyvault",
    "azure.servicebus",
    "azure.data.tables",
    "azure.monitor",
    "opentelemetry",
    "cloudevents",
    "odata_query",
    "pycountry",
    "email_validator",
)
TIMED = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
LOADED = (
    "import json, sys; import {module}; "
    "print(json.dumps(sorted(h for h in {heavy!r} if h in sys.modules)))"
)


def _python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 - this interpreter running a fixed snippet
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def measure(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="relay-pycache-") as cache:
        env = {**os.environ, "PYTHONPYCACHEPREFIX": cache, "PYTHONPATH": str(ROOT)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        modules = ("azure.functions", "function_app")
        for module in modules:  # untimed: compiles into the private cache
            _python(TIMED.format(module=module), env)
        times: dict[str, list[float]] = {m: [] for m in modules}
        for _ in range(runs):
            for module in modules:
                times[module].append(float(_python(TIMED.format(module=module), env)))
        loaded: list[str] = json.loads(
            _python(LOADED.format(module="function_app", heavy=HEAVY), env)
        )
    app = statistics.median(times["function_app"])
    sdk = statistics.median(times["azure.functions"])
    return {
        "runs": runs,
        "function_app_ms": round(app * 1000, 1),
        "azure_functions_ms": round(sdk * 1000, 1),
        "ratio": round(app / sdk, 2),
        "goal_ratio_max": 1.5,
        "heavy_modules_at_import": loaded,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="fresh interpreters per import")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    result = measure(args.runs)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:24} {value}")


if __name__ == "__main__":
    main()
