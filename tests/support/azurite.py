"""Azurite (the Table Storage emulator) for tests: started on a free loopback port, stopped after.

Use the `azurite_table` fixture by importing it into a conftest:

    from tests.support.azurite import azurite_table  # noqa: F401

It yields a connection string for the well-known Azurite development account. Give each test its
own table (`unique_table_name()`): one Azurite serves the whole session.

`make` installs Azurite with npm (package.json) and puts `node_modules/.bin` on PATH for pytest.
A missing `azurite-table` fails the tests that need it: `make test` always installs it, so its
absence is a broken set-up, never a reason to skip.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ACCOUNT = "devstoreaccount1"
# Azurite's published, fixed development key (not a secret: every Azurite install has it).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
STARTUP_SECONDS = 30.0
START_ATTEMPTS = 3  # a free port can be taken between our probe and Azurite's bind


def connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"TableEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


def unique_table_name(prefix: str = "t") -> str:
    """A fresh valid table name (a letter first, alphanumerics, 3–63 characters)."""
    return f"{prefix}{uuid.uuid4().hex}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _start(executable: str, workspace: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start Azurite on a free port; wait (bounded) until it accepts connections."""
    failures: list[str] = []
    for _ in range(START_ATTEMPTS):
        port = _free_port()
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
                [
                    executable,
                    "--tableHost",
                    "127.0.0.1",
                    "--tablePort",
                    str(port),
                    "--inMemoryPersistence",
                    "--skipApiVersionCheck",
                    "--loose",
                    "--silent",
                    "--disableTelemetry",  # no outbound calls from a test run
                ],
                cwd=workspace,  # whatever it writes lands in a temp dir, not the checkout
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            if _accepts(port):
                return process, port
            time.sleep(0.05)
        _stop(process)
        output = log.read_text(errors="replace").strip()[-2000:]
        failures.append(f"port {port}, exit code {process.returncode}: {output or '(no output)'}")
    pytest.fail("Azurite did not start:\n" + "\n".join(failures), pytrace=False)


@pytest.fixture(scope="session")
def azurite_table(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running Azurite Table service for the session; yields its connection string."""
    executable = shutil.which("azurite-table")
    if executable is None:
        pytest.fail(
            "azurite-table is not on PATH. Run `make test` (it installs Azurite with npm), or "
            "`npm ci` and then `PATH=$PWD/node_modules/.bin:$PATH .venv/bin/pytest ...`.",
            pytrace=False,
        )
    workspace = tmp_path_factory.mktemp("azurite")
    process, port = _start(executable, workspace, workspace / "azurite.log")
    try:
        yield connection_string(port)
    finally:
        _stop(process)
