"""Field-level problems: what every validation failure, and every API refusal, is reported as.

A problem names a JSON Pointer (RFC 6901) into the message body (`""` is the root), a stable
machine code and a human message. Messages never echo input values: they may be personal data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field


class FieldError(BaseModel):
    """One problem with one place in a body."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(description="JSON Pointer (RFC 6901) into the body; '' is the root.")
    code: str = Field(
        description="Stable machine-readable code, e.g. 'missing', 'invalid_country'."
    )
    message: str = Field(description="Human-readable explanation. Never contains input values.")


def json_pointer(parts: Iterable[str | int]) -> str:
    """Build an RFC 6901 pointer, escaping `~` and `/` inside segments."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class ContractViolation(Exception):
    """The one exception bad input ever produces: a non-empty list of field-level problems."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        if not errors:
            raise ValueError("a ContractViolation needs at least one FieldError")
        self.errors: tuple[FieldError, ...] = tuple(errors)
        codes = ", ".join(sorted({e.code for e in self.errors}))
        super().__init__(f"{len(self.errors)} problem(s) in the referral message: {codes}")
