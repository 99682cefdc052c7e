"""Start a sandbox in a child process and wait for its ready line (benchmarks, scripts).

    process, ready = start_sandbox_process("--latency-ms", "20")
    ...  # ready["url"], ready["authority"], ready["token"], ready["admin"]
    process.terminate(); process.wait()

Light on purpose: it imports neither the app nor uvicorn into the caller's process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_sandbox_process(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`python -m partner_sandbox --port 0 ARGS...`; returns the process and its ready line.
    Raises RuntimeError (and kills the child) if it exits before printing the line."""
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    process = subprocess.Popen(  # noqa: S603 - this interpreter running our own module
        [sys.executable, "-m", "partner_sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        cwd=ROOT,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        process.wait()
        raise RuntimeError("the sandbox exited before it was ready")
    ready: dict[str, str] = json.loads(line)
    return process, ready
