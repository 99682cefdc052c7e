"""Field-level problems the sandbox reports in a 400, and the exception that carries them.

The sandbox's own type (it imports nothing from `shared/`): a problem names a JSON Pointer into
the request body, a stable code and a message that never quotes the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    path: str  # JSON Pointer into the request body ("" = the body itself)
    code: str
    message: str


class InvalidBody(Exception):
    """A request body the service refuses; `problems` lists why (at least one)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{len(self.problems)} problem(s)")


def pointer(*parts: str | int) -> str:
    """A JSON Pointer from path segments (RFC 6901 escaping)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
