"""The CLI's surface: --version, help on every positional, usage errors exit 2 in every command,
dlq help without internal names, python -m relay_cli, login's file store folder."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay_cli import commands
from relay_cli.main import build_parser, main
from tests.conftest import REPO


def parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from parsers(child)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("referral-relay 0.")


def test_every_positional_has_help() -> None:
    missing = [
        f"{prog} {action.metavar or action.dest}"
        for prog, parser in parsers(build_parser())
        for action in parser._actions
        if not action.option_strings and not action.help
    ]
    assert missing == []


COMMANDS = [module.__name__.rsplit(".", 1)[1] for module in commands.ALL]


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_option_exits_two_in_every_command(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--no-such-option"])
    assert exit_.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_dlq_help_has_no_internal_names_or_typos(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["dlq", "--help"], ["dlq", "replay", "--help"], ["dlq", "list", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = capsys.readouterr().out
        assert "names." not in text
        assert "_MINUTES" not in text
        assert "as is it" not in text
        assert "--json" in text or argv == ["dlq", "--help"]


def test_python_dash_m_runs_the_same_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "relay_cli", "validate", "samples/independent.json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "1 message(s), 1 valid, 0 invalid" in result.stdout


def test_login_refuses_a_file_store_in_a_folder_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    argv = ["login", "--client-id", "c", "--tenant", "t", "--store", f"file://{missing}/token"]

    assert main(argv) == 2

    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_sandbox_on_a_port_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["sandbox", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"127.0.0.1:{port}" in err
    assert "--port" in err
