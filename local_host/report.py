"""From the stream of invocations to one result per input message (what `referral-relay run`
prints). Ids and codes only: never customer data."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.contracts.errors import FieldError
from shared.telemetry.outcomes import Invocation

FinalOutcome = Literal[
    "created",
    "connected",
    "rejected",
    "failed",
    "duplicate",
    "updated",
    "unchanged",
    "stale",
    "pending",
]
REACHED = frozenset(
    {"created", "connected", "rejected", "failed", "duplicate", "updated", "unchanged", "stale"}
)
UPDATE_FUNCTION = "update_referral"


@dataclass(frozen=True, slots=True)
class InputResult:
    source: str
    message_id: str
    outcome: FinalOutcome
    referral_id: str | None = None
    engagement_id: str | None = None
    connected_referral_id: str | None = None
    errors: tuple[FieldError, ...] = ()
    error_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "outcome": self.outcome,
            "referralId": self.referral_id,
            "engagementId": self.engagement_id,
            "connectedReferralId": self.connected_referral_id,
            "errors": [e.model_dump() for e in self.errors]
            or ([{"path": "", "code": self.error_code, "message": ""}] if self.error_code else []),
        }

    def to_text(self, width: int) -> str:
        parts = [f"{self.source:<{width}}", f"{self.outcome:<10}"]
        if self.referral_id:
            parts.append(f"referral={self.referral_id}")
        if self.engagement_id:
            parts.append(f"engagement={self.engagement_id}")
        if self.connected_referral_id:
            parts.append(f"connected={self.connected_referral_id}")
        parts.extend(f"{e.path or '(root)'} {e.code}" for e in self.errors)
        if self.error_code and not self.errors:
            parts.append(f"error={self.error_code}")
        return "  ".join(parts)


@dataclass
class InvocationLog:
    """Collects invocations (subscribe `add` to `shared.telemetry.outcomes`)."""

    invocations: list[Invocation] = field(default_factory=list)

    def add(self, invocation: Invocation) -> None:
        self.invocations.append(invocation)

    def result_for(self, source: str, message_id: str) -> InputResult:
        creates = [
            i
            for i in self.invocations
            if i.function == "create_referral" and i.original_message_id == message_id
        ]
        final = next(
            (i for i in reversed(creates) if i.outcome and i.outcome.kind != "rescheduled"), None
        )
        if final is None or final.outcome is None:
            return InputResult(source, message_id, "pending")
        created = final.outcome
        base = InputResult(
            source,
            message_id,
            created.kind if created.kind in REACHED else "pending",  # type: ignore[arg-type]
            referral_id=created.referral_id,
            engagement_id=created.engagement_id,
            errors=created.errors,
            error_code=created.error_code,
        )
        if created.kind not in ("created", "duplicate") or created.referral_type != "Shared":
            return base
        return self._with_connect(base, created.kind)

    def update_result_for(self, source: str, message_id: str) -> InputResult:
        """The result of one message on `referral-updates`: its last non-rescheduled outcome."""
        final = next(
            (
                i.outcome
                for i in reversed(self.invocations)
                if i.function == UPDATE_FUNCTION
                and i.original_message_id == message_id
                and i.outcome is not None
                and i.outcome.kind != "rescheduled"
            ),
            None,
        )
        if final is None:
            return InputResult(source, message_id, "pending")
        return InputResult(
            source,
            message_id,
            final.kind if final.kind in REACHED else "pending",  # type: ignore[arg-type]
            referral_id=final.referral_id,
            errors=final.errors,
            error_code=final.error_code,
        )

    def _with_connect(self, base: InputResult, kind: str) -> InputResult:
        connects = [
            i.outcome
            for i in self.invocations
            if i.function == "connect_referral"
            and i.outcome is not None
            and i.outcome.referral_id == base.referral_id
            and i.outcome.kind not in ("rescheduled", "skipped")
        ]
        if not connects:
            return InputResult(**{**_fields(base), "outcome": "pending"})
        connect = connects[-1]
        if connect.kind in ("connected", "duplicate"):
            outcome: FinalOutcome = "connected" if kind == "created" else "duplicate"
            return InputResult(
                **{
                    **_fields(base),
                    "outcome": outcome,
                    "connected_referral_id": connect.connected_referral_id,
                }
            )
        return InputResult(
            **{
                **_fields(base),
                "outcome": "rejected" if connect.kind == "rejected" else "failed",
                "errors": connect.errors,
                "error_code": connect.error_code,
            }
        )


def _fields(result: InputResult) -> dict[str, Any]:
    return {name: getattr(result, name) for name in InputResult.__slots__}


def summary(results: list[InputResult]) -> str:
    counts: Counter[str] = Counter(r.outcome for r in results)
    order = [
        "created",
        "connected",
        "duplicate",
        "updated",
        "unchanged",
        "stale",
        "rejected",
        "failed",
        "pending",
    ]
    return f"{len(results)} input(s): " + ", ".join(f"{counts[k]} {k}" for k in order if counts[k])
