"""Argument types and options shared by several commands (argparse turns a bad value into a
usage error, exit 2)."""

from __future__ import annotations

import argparse
from typing import Any


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_namespace(parser: Any) -> None:
    parser.add_argument(
        "--namespace", required=True, help="Service Bus namespace (name or host name)"
    )
