"""Issue 15 item 1: every command in README.md and docs/*.md runs as written.

Each shell block (sh, bash, console, powershell) is split the way a shell would split it; each
`referral-relay` command goes through the CLI's own argparse parser, each `az`/`azd` command is
checked against the documented options in `azure_cli_reference`, each `make` target, script,
module and file named must exist. The deploy guide's order and credential procedure are checked
as rules, and the Windows path against the Makefile's own steps.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from relay_cli.main import build_parser
from tests.docs.azure_cli_reference import AZ_COMMANDS, AZD_COMMANDS, check
from tests.docs.shell_blocks import PLACEHOLDER, Block, Command, commands, shell_blocks

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "examples").rglob("README.md")),
]
DEPLOY = ROOT / "docs" / "deploy.md"

RELAY_SH = ".venv/bin/referral-relay"
RELAY_PS = (".venv\\Scripts\\referral-relay", ".venv\\Scripts\\referral-relay.exe")
PYTHON = re.compile(r"(^|.*[/\\])(python3?|py)(\.exe)?$")  # python3, .venv/bin/python, py
PIP = re.compile(r"(^|.*[/\\])pip3?(\.exe)?$")
PYTEST = re.compile(r"(^|.*[/\\])pytest(\.exe)?$")
VENV_TOOL = re.compile(
    r"^\.venv[/\\](tools[/\\]\w+[/\\])?(bin|Scripts)[/\\](?P<tool>[\w-]+)(\.exe)?$"
)
# Programs whose arguments we do not check: standard tools, or ones whose use is shown only.
UNCHECKED = {
    "cat",
    "cd",
    "curl",
    "date",
    "dotnet",
    "echo",
    "export",
    "node",
    "npm",
    "source",
    "unset",
    ".",
}


def _blocks() -> list[Block]:
    return [block for path in DOCS for block in shell_blocks(path)]


def _commands(block_filter: str | None = None) -> list[tuple[Block, Command]]:
    return [
        (block, command)
        for block in _blocks()
        if block_filter is None or block.language == block_filter
        for command in commands(block, ROOT)
    ]


ALL = _commands()


def _id(item: tuple[Block, Command]) -> str:
    _, command = item
    return f"{command.where}:{' '.join(command.words[:3])}"


def test_the_docs_have_commands_to_check() -> None:
    programs = {command.program for _, command in ALL}
    assert {RELAY_SH, "az", "azd", "make"} <= programs
    assert any(block.language == "ps" for block, _ in ALL), "README needs its PowerShell path"


@pytest.mark.parametrize("item", ALL, ids=[_id(i) for i in ALL])
def test_command_runs_as_written(item: tuple[Block, Command]) -> None:
    block, command = item
    program, args = command.program, command.words[1:]
    if program in (RELAY_SH, *RELAY_PS):
        expected = RELAY_SH if block.language == "sh" else RELAY_PS
        assert program in expected, f"{command.where}: call {expected} in a {block.language} block"
        _check_relay(command, args)
    elif program == "referral-relay":
        pytest.fail(
            f"{command.where}: write {RELAY_SH} (README says to use it or activate .venv): "
            f"{command.text}"
        )
    elif program == "az":
        _check_az(command, args)
    elif program == "azd":
        _check_table(command, args, AZD_COMMANDS)
    elif program == "make":
        targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
        assert set(args) <= targets, f"{command.where}: no make target {set(args) - targets}"
    elif PYTHON.match(program):
        _check_python(command, args)
    elif PIP.match(program):
        for flag, value in itertools.pairwise(args):
            if flag == "-r":
                assert (ROOT / value).is_file(), f"{command.where}: no {value}"
    elif PYTEST.match(program):
        for path in args:
            if not path.startswith("-"):
                assert (ROOT / path).exists(), f"{command.where}: no {path}"
    elif VENV_TOOL.match(program):
        tool = VENV_TOOL.match(program)["tool"]  # type: ignore[index]
        pinned = {
            line.split("==")[0].strip().lower()
            for requirements in ROOT.glob("requirements*.txt")
            for line in requirements.read_text().splitlines()
            if "==" in line
        }
        assert tool.lower() in pinned, f"{command.where}: {tool} is not a pinned tool"
    else:
        assert program in UNCHECKED, f"{command.where}: unknown program {program!r}"


def _check_relay(command: Command, args: tuple[str, ...]) -> None:
    parser = build_parser()
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parsed = parser.parse_args(list(args))
    except SystemExit:
        pytest.fail(f"{command.where}: the CLI refuses `{command.text}`:\n{stderr.getvalue()}")
    for path in getattr(parsed, "paths", []):
        if PLACEHOLDER not in path and path != "-":
            assert (ROOT / path).exists(), f"{command.where}: no such input {path}"


def _check_table(command: Command, args: tuple[str, ...], table: tuple) -> dict[str, str | bool]:  # type: ignore[type-arg]
    try:
        _, values = check(args, table)
    except ValueError as exc:
        pytest.fail(f"{command.where}: {exc}\n  {command.text}")
    return values


def _check_az(command: Command, args: tuple[str, ...]) -> None:
    values = _check_table(command, args, AZ_COMMANDS)
    if args[:4] == ("ad", "app", "credential", "reset"):
        # Without --append the reset deletes every existing secret of the app; --years is at
        # least a year. The login secret must be added beside the others and expire soon.
        assert values.get("--append") is True, f"{command.where}: reset without --append"
        assert "--end-date" in values, f"{command.where}: give the secret a short --end-date"
        assert "--display-name" in values, f"{command.where}: name it to find its keyId"


def _check_python(command: Command, args: tuple[str, ...]) -> None:
    words = list(args)
    while words and re.fullmatch(r"-\d+(\.\d+)?", words[0]):  # `py -3.11`
        words.pop(0)
    if not words or words[0] == "-c":
        return
    if words[0] == "-m":
        module = words[1]
        assert importlib.util.find_spec(module) is not None, f"{command.where}: no module {module}"
        return
    script = ROOT / words[0]
    assert script.is_file(), f"{command.where}: no script {words[0]}"
    if script.is_relative_to(ROOT / "examples"):  # the kits' own parsers check their options
        spec = importlib.util.spec_from_file_location(f"doc_{script.stem}", script)
        assert spec is not None
        assert spec.loader is not None
        kit = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = kit
        spec.loader.exec_module(kit)
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                kit.build_parser().parse_args(words[1:])
        except SystemExit:
            pytest.fail(
                f"{command.where}: {words[0]} refuses `{command.text}`:\n{stderr.getvalue()}"
            )


# --- the deploy guide: order and the credential procedure ------------------------------------


def _deploy_commands() -> list[Command]:
    return [command for block in shell_blocks(DEPLOY) for command in commands(block, ROOT)]


def _first(found: list[Command], predicate: object) -> int:
    for index, command in enumerate(found):
        if predicate(command):  # type: ignore[operator]
            return index
    raise AssertionError(f"docs/deploy.md has no command matching {predicate}")


def test_deploy_guide_creates_the_vault_before_storing_the_token() -> None:
    found = _deploy_commands()
    azd_up = _first(found, lambda c: c.words[:2] == ("azd", "up"))
    login = _first(found, lambda c: c.words[:2] == (RELAY_SH, "login"))
    secret = _first(found, lambda c: c.words[:5] == ("az", "ad", "app", "credential", "reset"))
    assert azd_up < secret < login
    # Every login in the guide stores into the vault azd created (its output, not a guess).
    for command in found:
        if command.words[:2] == (RELAY_SH, "login"):
            assert "azd env get-value RELAY_REFRESH_TOKEN_STORE" in command.text


def test_the_login_secret_is_appended_short_lived_and_deleted_by_its_key_id() -> None:
    found = _deploy_commands()
    reset = _first(found, lambda c: c.words[:5] == ("az", "ad", "app", "credential", "reset"))
    listing = _first(found, lambda c: c.words[:5] == ("az", "ad", "app", "credential", "list"))
    delete = _first(found, lambda c: c.words[:5] == ("az", "ad", "app", "credential", "delete"))
    assert reset < listing < delete
    name = _option(found[reset], "--display-name")
    query = _option(found[listing], "--query")
    # The key id is looked up by the display name given to the secret (reset prints no keyId).
    assert "keyId" in query
    assert "displayName" in query
    assert name == PLACEHOLDER or name in query or "$" in found[listing].text
    assert "--key-id" in found[delete].words
    assert all(
        c.words[:5] != ("az", "ad", "app", "credential", "reset") or "--append" in c.words
        for block in _blocks()
        for c in commands(block, ROOT)
    )


def test_deploy_guide_checks_that_the_functions_were_indexed() -> None:
    found = _deploy_commands()
    azd_up = _first(found, lambda c: c.words[:2] == ("azd", "up"))
    listed = _first(found, lambda c: c.words[:4] == ("az", "functionapp", "function", "list"))
    assert azd_up < listed


def test_the_documented_index_check_lists_every_function() -> None:
    """The offline half of the post-deploy check: what the host would index from function_app."""
    code = next(
        c.words[2]
        for c in _deploy_commands()
        if PYTHON.match(c.program) and c.words[1] == "-c" and "function_app" in c.words[2]
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and a snippet from our docs
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["create_referral", "connect_referral", "update_referral"]


def _option(command: Command, name: str) -> str:
    index = command.words.index(name)
    return command.words[index + 1]


# --- the smoke test: a private deal, its outcome, and closing it -----------------------------


def _smoke_send() -> Command:
    return next(c for c in _deploy_commands() if c.words[:2] == (RELAY_SH, "send"))


def test_the_smoke_test_sends_a_private_independent_deal() -> None:
    from jsonschema import Draft202012Validator

    paths = [w for w in _smoke_send().words[2:] if w.endswith(".json")]
    assert paths, "the smoke test sends a file"
    schema = json.loads((ROOT / "schemas" / "referral-request.schema.json").read_text())
    for path in paths:
        body = json.loads((ROOT / path).read_text())
        Draft202012Validator(schema).validate(body)
        assert body["type"] == "Independent"
        assert body["consent"]["consentToShareReferralWithMicrosoftSellers"] is False
        assert body["externalReferenceId"]


def _patch_body() -> list[dict[str, str]]:
    command = next(
        c
        for c in _deploy_commands()
        if c.words[:1] == ("az",) and c.words[1] == "rest" and "patch" in c.words
    )
    body: list[dict[str, str]] = json.loads(_option(command, "--body"))
    return body


async def test_the_documented_patch_closes_a_referral_in_the_sandbox() -> None:
    """The body the guide PATCHes is one the (pessimistic) sandbox accepts: Closed / Lost."""
    import httpx

    from partner_sandbox import SandboxConfig, create_app
    from partner_sandbox.transport import SandboxTransport

    app = create_app(SandboxConfig(seed=3))
    token = app.sandbox.token("admin")
    smoke = json.loads((ROOT / _smoke_paths()[0]).read_text())
    async with httpx.AsyncClient(
        transport=SandboxTransport(app),
        base_url="https://api.partner.microsoft.com",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        created = await client.post("/v1.0/engagements/referrals", json=smoke)
        assert created.status_code in (200, 201), created.text
        referral_id = created.json()["id"]
        patched = await client.patch(
            f"/v1.0/engagements/referrals/{referral_id}",
            json=_patch_body(),
            headers={"If-Match": created.json()["eTag"]},
        )
        assert patched.status_code in (200, 204), patched.text
        after = (await client.get(f"/v1.0/engagements/referrals/{referral_id}")).json()
    assert (after["status"], after["substatus"]) == ("Closed", "Lost")


def _smoke_paths() -> list[str]:
    return [w for w in _smoke_send().words[2:] if w.endswith(".json")]


# --- Windows: the PowerShell path does what the Makefile does --------------------------------

MAKE_DRY_RUN = [
    *("make", "--no-print-directory", "-n", "-B"),
    *("run", "lint", "typecheck", "pytest", "infra-scan"),
]
NOISE = {"-q", "--disable-pip-version-check", "--loglevel=error"}


def _normalise(words: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for word in words:
        if word in NOISE:
            continue
        word = word.replace("\\", "/").replace("/Scripts/", "/bin/")
        word = re.sub(r"\.exe$", "", word)
        if re.fullmatch(r"bench/\w+\.py", word):
            word = "bench"  # make expands bench/*.py; PowerShell passes the package
        if not out or out[-1] != word:
            out.append(word)
    if out[:2] == ["py", "-3.11"]:
        out[:2] = ["python3"]
    return tuple(out)


def test_the_powershell_path_matches_the_makefile() -> None:
    dry = subprocess.run(  # noqa: S603 - make from PATH on our own Makefile
        MAKE_DRY_RUN,
        cwd=ROOT,
        # Under `make test` this runs inside make: start a fresh one, not a sub-make.
        env={k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    block = Block(ROOT / "Makefile", 1, "sh", dry.stdout)
    wanted = {
        _normalise(c.words)
        for c in commands(block, ROOT)
        if c.program not in {"touch"} and c.words[:2] != ("python3", "-c")
    }
    shown = {_normalise(c.words) for _, c in _commands("ps")}
    missing = sorted(" ".join(w) for w in wanted - shown)
    assert not missing, "README's PowerShell path lacks:\n  " + "\n  ".join(missing)
