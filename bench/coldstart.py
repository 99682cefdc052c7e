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
`first_message_imports_ms` is what the first message then pays instead (median, same method):
the invocation path, both handlers, the adapters the composition root builds in Azure and the
SDKs behind them (httpx, msal, azure-identity, azure-data-tables, azure-servicebus).
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
# Heavy at import and not needed to index two Service Bus triggers; the cold-start test forbids
# them (and our model modules) at `import function_app`.
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
# What the first message imports: shared.invocation and the handlers, then bootstrap's Azure
# adapters and their SDKs (each adapter imports its SDK on first use).
FIRST_MESSAGE = (
    "shared.invocation, shared.handlers.create, shared.handlers.connect, "
    "shared.partner_api.client, shared.auth.sam_provider, shared.ledger.table, "
    "shared.publishing.servicebus, msal, azure.identity.aio, azure.data.tables.aio, "
    "azure.servicebus.aio"
)
TIMED = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
FIRST_TIMED = (
    "import time; import function_app; t = time.perf_counter(); import {modules}; "
    "print(time.perf_counter() - t)"
)
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
        _python(FIRST_TIMED.format(modules=FIRST_MESSAGE), env)
        times: dict[str, list[float]] = {m: [] for m in modules}
        first_message: list[float] = []
        for _ in range(runs):
            for module in modules:
                times[module].append(float(_python(TIMED.format(module=module), env)))
            first_message.append(float(_python(FIRST_TIMED.format(modules=FIRST_MESSAGE), env)))
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
        "first_message_imports_ms": round(statistics.median(first_message) * 1000, 1),
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
