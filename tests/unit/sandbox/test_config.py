"""Sandbox configuration: the fault SPEC string, latency specs, CLI options, config checks."""

from __future__ import annotations

import argparse

import pytest

from partner_sandbox.config import (
    FaultSpec,
    Latency,
    SandboxConfig,
    add_arguments,
    config_from_args,
    parse_latency_map,
)

DOCUMENTED = "429=0.05,500=0.02,503=0.02,drop=0.01,hang=0.01,lost=0.01,retry-after=1"


def test_documented_spec_parses() -> None:
    spec = FaultSpec.parse(DOCUMENTED)

    assert spec == FaultSpec(
        throttle=0.05, error=0.02, unavailable=0.02, drop=0.01, hang=0.01, lost=0.01, retry_after=1
    )
    assert spec.active
    assert FaultSpec.parse(spec.to_spec()) == spec


@pytest.mark.parametrize("text", ["", "  ", "none", "NONE", None])
def test_empty_spec_means_no_faults(text: str | None) -> None:
    spec = FaultSpec.parse(text)

    assert spec == FaultSpec()
    assert not spec.active


def test_spec_is_forgiving_about_spaces_and_case() -> None:
    assert FaultSpec.parse(" DROP = 0.5 , Retry-After=2.5 ") == FaultSpec(drop=0.5, retry_after=2.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("boom=0.1", "unknown fault 'boom'"),
        ("429", "not KEY=VALUE"),
        ("429=", "not KEY=VALUE"),
        ("429=lots", "not a number"),
        ("429=1.5", "between 0 and 1"),
        ("500=-0.1", "between 0 and 1"),
        ("429=0.6,500=0.6", "more than 1"),
        ("retry-after=-1", "non-negative"),
        ("retry-after=nan", "non-negative"),
    ],
)
def test_bad_specs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultSpec.parse(text)


@pytest.mark.parametrize(
    ("text", "latency"),
    [
        ("50", Latency(50)),
        ("50+20", Latency(50, 20)),
        (" 0.5 + 1 ", Latency(0.5, 1)),
        (30, Latency(30)),
    ],
)
def test_latency_specs(text: str | int, latency: Latency) -> None:
    assert Latency.parse(text) == latency
    assert Latency.parse(latency.to_spec()) == latency


@pytest.mark.parametrize(
    ("text", "message"), [("fast", "FIXED"), ("5+x", "FIXED"), ("-5", "negative")]
)
def test_bad_latency(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Latency.parse(text)


def test_latency_map_names_routes() -> None:
    assert parse_latency_map({"create": "5+1", "*": 2}) == {
        "create": Latency(5, 1),
        "*": Latency(2),
    }
    with pytest.raises(ValueError, match="unknown route 'delete'"):
        parse_latency_map({"delete": "5"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"organizations": ()}, "organization"),
        ({"throttle_body": "xml"}, "throttle_body"),
        ({"create_status": 202}, "create_status"),
        ({"latency": {"delete": Latency(1)}}, "unknown route"),
    ],
)
def test_config_refuses_nonsense(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SandboxConfig(**changes)  # type: ignore[arg-type]


def test_cli_options_make_a_config() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    args = parser.parse_args(
        ["--latency-ms", "25", "--faults", "lost=0.5", "--seed", "9", "--token-lifetime", "60"]
    )
    config = config_from_args(args)

    assert (args.host, args.port) == ("127.0.0.1", 0)
    assert config.latency == {"*": Latency(25)}
    assert config.faults == FaultSpec(lost=0.5)
    assert (config.seed, config.token_lifetime_s) == (9, 60)


def test_config_from_another_commands_options() -> None:
    """`referral-relay run` passes its own namespace, without --token-lifetime."""
    config = config_from_args(argparse.Namespace(latency_ms=0.0, faults="", seed=1))

    assert (config.seed, config.latency, config.token_lifetime_s) == (1, {}, 3600)
