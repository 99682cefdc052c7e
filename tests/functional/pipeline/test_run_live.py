"""`referral-relay run --live` against the sandbox served as if it were the live service: the
production settings path (RELAY_* variables, a file refresh-token store, the confidential app),
a durable SQLite ledger, and the confirmation before posting."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from partner_sandbox import SandboxConfig, create_app
from partner_sandbox.app import SandboxApp
from partner_sandbox.server import serve_in_thread
from relay_cli.main import main
from tests.conftest import REPO

CLIENT_ID = "3c5d7e9f-1111-4222-8333-944455556666"
SAMPLES = ["samples/independent.json", "samples/shared-cosell.json"]


@dataclass
class Live:
    app: SandboxApp
    tmp: Path

    def stored(self) -> int:
        return int(self.app.sandbox.stats()["referrals"]["stored"])


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    app = create_app(SandboxConfig())
    with serve_in_thread(app) as ready:
        issued = app.sandbox.tokens.issue_for_user("admin", client_id=CLIENT_ID)
        (tmp_path / "rt").write_text(issued["refresh_token"])
        for name, value in {
            "RELAY_PARTNER_API_URL": ready.url,
            "RELAY_AUTHORITY_HOST": ready.authority.rsplit("/", 1)[0],
            "RELAY_PARTNER_TENANT_ID": app.sandbox.config.default_organization.id,
            "RELAY_PARTNER_CLIENT_ID": CLIENT_ID,
            "RELAY_REFRESH_TOKEN_STORE": f"file://{tmp_path / 'rt'}",
            "RELAY_APP_CREDENTIAL": "secret",
            "RELAY_CLIENT_SECRET": "sandbox-secret-value",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(REPO)
        yield Live(app, tmp_path)


def run_live(live: Live, *args: str, ledger: str = "ledger.sqlite3") -> int:
    return main(["run", "--live", "--yes", "--json", "--ledger", str(live.tmp / ledger), *args])


def outcomes(capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str | None]]:
    lines = capsys.readouterr().out.splitlines()
    return [(r["outcome"], r["referralId"]) for r in map(json.loads, lines)]


def test_running_the_same_file_twice_creates_each_referral_once(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_live(live, *SAMPLES) == 0
    first = outcomes(capsys)
    assert [o for o, _ in first] == ["created", "connected"]
    stored = live.stored()  # our two, and Microsoft's connected referral

    assert run_live(live, *SAMPLES) == 0
    second = outcomes(capsys)

    assert [o for o, _ in second] == ["duplicate", "duplicate"]
    assert [r for _, r in second] == [r for _, r in first]
    assert live.stored() == stored


def test_a_new_ledger_looks_up_before_the_first_post(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_live(live, *SAMPLES, ledger="one.sqlite3") == 0
    first = outcomes(capsys)
    stored = live.stored()

    # Another machine, or a deleted ledger: nothing known locally, so the handlers must find
    # the referrals already in Partner Center instead of creating them again.
    assert run_live(live, *SAMPLES, ledger="other.sqlite3") == 0
    second = outcomes(capsys)

    assert live.stored() == stored
    assert [r for _, r in second] == [r for _, r in first]


def test_bodies_without_a_key_keep_their_message_id_between_runs(
    live: Live, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = json.loads((REPO / "samples/independent.json").read_text())
    del body["externalReferenceId"]
    path = tmp_path / "no-key.json"
    path.write_text(json.dumps(body))

    assert run_live(live, str(path)) == 0
    stored = live.stored()
    assert run_live(live, str(path)) == 0

    # The same MessageId is the same message (its lineage finishing), so the second run
    # re-announces the first run's referral rather than creating another.
    (first, first_id), (second, second_id) = outcomes(capsys)
    assert (first, second) == ("created", "created")
    assert first_id == second_id
    assert live.stored() == stored == 1


def test_without_a_terminal_or_yes_it_refuses_and_posts_nothing(
    live: Live, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code = main(["run", "--live", "--ledger", str(live.tmp / "l.sqlite3"), *SAMPLES])

    assert code == 2
    assert "--yes" in capsys.readouterr().err
    assert live.stored() == 0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "code", "posted"), [("n\n", 2, False), ("yes\n", 0, True)])
def test_on_a_terminal_it_asks_first(
    live: Live,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    code: int,
    posted: bool,
) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal(answer))
    ledger = str(live.tmp / "l.sqlite3")

    assert main(["run", "--live", "--ledger", ledger, "samples/independent.json"]) == code

    err = capsys.readouterr().err
    assert "LIVE Partner Center API" in err
    assert "[y/N]" in err
    assert (live.stored() > 0) is posted


def test_live_refuses_sandbox_options(live: Live, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_live(live, "--faults", "503=0.5", *SAMPLES) == 2
    assert "sandbox options" in capsys.readouterr().err
    assert live.stored() == 0


def test_live_without_settings_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(REPO)
    for name in ("RELAY_PARTNER_TENANT_ID", "RELAY_PARTNER_CLIENT_ID", "RELAY_REFRESH_TOKEN_STORE"):
        monkeypatch.delenv(name, raising=False)
    ledger = str(tmp_path / "l.sqlite3")

    assert main(["run", "--live", "--yes", "--ledger", ledger, "samples/independent.json"]) == 2
    assert "RELAY_" in capsys.readouterr().err
