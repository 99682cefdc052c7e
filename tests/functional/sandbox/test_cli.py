"""`referral-relay sandbox` (and `python -m partner_sandbox`) as a user runs them: a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from partner_sandbox.process import start_sandbox_process
from tests.conftest import REPO
from tests.functional.sandbox.helpers import REFERRALS, example


def start(*command: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(  # noqa: S603 - this interpreter running our own module
        [sys.executable, "-m", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )


def use(ready: dict[str, str]) -> None:
    """The ready line is complete and its token works against its URL."""
    assert set(ready) == {"url", "authority", "token", "admin"}
    assert ready["url"].startswith("http://127.0.0.1:")
    assert ready["authority"].startswith(ready["url"].replace("http://", "https://") + "/")
    headers = {"Authorization": f"Bearer {ready['token']}"}
    created = httpx.post(ready["url"] + REFERRALS, json=example(), headers=headers)
    stats = httpx.get(ready["admin"] + "/stats").json()
    assert created.status_code == 200
    assert stats["referrals"]["stored"] == 1


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_prints_a_ready_line_serves_and_stops_cleanly(stop: signal.Signals) -> None:
    process = start("relay_cli.main", "sandbox", "--port", "0", "--seed", "4", "--latency-ms", "1")
    try:
        assert process.stdout is not None
        use(json.loads(process.stdout.readline()))
    finally:
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=20)

    assert process.returncode == 0, stderr
    assert stdout == ""  # the ready line is the only thing on stdout


def test_start_sandbox_process_runs_python_m_partner_sandbox() -> None:
    process, ready = start_sandbox_process("--seed", "4")
    try:
        use(ready)
    finally:
        process.terminate()
        process.communicate(timeout=20)

    assert process.returncode == 0


def test_start_sandbox_process_reports_a_sandbox_that_did_not_start() -> None:
    with pytest.raises(RuntimeError, match="exited before it was ready"):
        start_sandbox_process("--faults", "boom=1")


def test_bad_fault_spec_is_a_usage_error() -> None:
    process = start("relay_cli.main", "sandbox", "--faults", "boom=1")
    stdout, stderr = process.communicate(timeout=20)

    assert process.returncode == 2
    assert "unknown fault 'boom'" in stderr
    assert stdout == ""
