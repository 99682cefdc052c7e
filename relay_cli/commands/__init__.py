"""Subcommand modules, in the order `--help` lists them. Add a module here to add a command."""

from __future__ import annotations

from types import ModuleType

from relay_cli.commands import dlq, login, outcomes, run, sandbox, schema, send, validate

ALL: list[ModuleType] = [validate, schema, run, sandbox, login, send, dlq, outcomes]
