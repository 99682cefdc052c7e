"""Sandbox configuration: organisations and users, token lifetimes, fault and latency specs.

Everything here is immutable and parsed once at start-up (or when the admin endpoint changes the
faults), never per request.

Fault SPEC strings (CLI `--faults`, admin `PUT /_sandbox/faults`)::

    429=0.05,500=0.02,503=0.02,drop=0.01,hang=0.01,lost=0.01,retry-after=1

Per request, one draw picks at most one of these probabilities (their sum at most 1): `429`
throttled with `Retry-After`, `500` generalException, `503` serviceNotAvailable, `drop` connection
closed before the request is handled, `hang` no answer until the client gives up, `lost` the
request is handled (committed) and then the connection is closed instead of answering, `late`
(creates only) the client gets a 504, a drop or a hang and the referral is committed up to
`late-delay` seconds (default 20) later.

Per list with a `$filter`, a second draw picks at most one of `filter-refused` (a filter naming
`externalReferenceId` is a 400), `filter-ignored` (every referral, paged) and `filter-ci`
(string `eq` ignores case); their sum at most 1.

Quantities: `retry-after` the seconds sent in `Retry-After` (default 1); `list-lag` seconds
before a committed referral appears in lists (GET by id sees it at once); `rate-cap` requests
per second per organisation on the Referrals API, beyond it 429 (0: no cap). An empty string or
`none` means no faults.

Webhook deliveries (their own seeded draws, so they shift no API fault): `webhook-dup=P` sends an
event twice, `webhook-reorder=P` holds an event back until the organisation's next event has
left, `webhook-delay=S` sends each event uniform 0..S seconds late (on the sandbox clock).

Latency specs are `FIXED[+JITTER]` in milliseconds, e.g. `50+20`: every request waits 50 ms plus a
uniform 0..20 ms drawn from the seeded generator.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

PARTNER_API_AUDIENCE: Final = "https://api.partner.microsoft.com"
ROLE_ADMIN: Final = "ReferralsAdmin"
ROLE_USER: Final = "ReferralsUser"

# Route (operation) names: the keys of per-route latency, scripted faults and request stats.
OPERATIONS: Final = ("create", "list", "get", "update", "replace", "token", "devicecode")
ANY_OPERATION: Final = "*"
# `@odata.nextLink` styles: ours, or the shape of Microsoft's documented list example.
NEXT_LINK_STYLES: Final = ("sandbox", "documented")

# Deterministic identities of the default organisation (its id is the documented example's).
DEFAULT_ORG_ID: Final = "7d23e5ca-19dc-4eaa-aac8-5e6b559f0d1d"
DEFAULT_ORG_NAME: Final = "Contoso Company"
ADMIN_OID: Final = "a0000000-0000-4000-8000-000000000001"
USER_OID: Final = "a0000000-0000-4000-8000-000000000002"
NO_ROLE_OID: Final = "a0000000-0000-4000-8000-000000000003"


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in person. `alias` is a short name for the admin API and tests."""

    alias: str
    oid: str
    upn: str
    display_name: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Organization:
    """A partner organisation; its id is both the Entra tenant id and `organizationId`."""

    id: str
    name: str
    users: tuple[User, ...]


DEFAULT_ORGANIZATION: Final = Organization(
    id=DEFAULT_ORG_ID,
    name=DEFAULT_ORG_NAME,
    users=(
        User(
            "admin", ADMIN_OID, "referrals.admin@contoso.example", "Referrals Admin", (ROLE_ADMIN,)
        ),
        User("user", USER_OID, "referrals.user@contoso.example", "Referrals User", (ROLE_USER,)),
        User("norole", NO_ROLE_OID, "no.role@contoso.example", "No Referrals Role", ()),
    ),
)


def _number(key: str, text: str, maximum: float | None) -> float:
    """A non-negative number (at most `maximum`) from a SPEC value; ValueError names the key."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"fault {key!r}: {text!r} is not a number") from None
    if maximum is not None and not 0.0 <= value <= maximum:
        raise ValueError(f"fault {key!r}: probability must be between 0 and {maximum:g}")
    if not value >= 0.0:  # also refuses NaN
        raise ValueError(f"fault {key!r}: must be a non-negative number")
    return value


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Probabilities of each injected fault (see the module docstring for the SPEC string)."""

    throttle: float = 0.0  # 429
    error: float = 0.0  # 500
    unavailable: float = 0.0  # 503
    drop: float = 0.0
    hang: float = 0.0
    lost: float = 0.0
    late: float = 0.0  # create committed late; the client sees a 504, a drop or a hang
    retry_after: float = 1.0
    late_delay: float = 20.0  # a late commit lands uniform 0..late_delay seconds later
    list_lag: float = 0.0  # seconds before a committed referral shows in lists
    filter_ci: float = 0.0  # a list compares strings with `eq` ignoring case
    filter_ignored: float = 0.0  # a list ignores `$filter` (returns everything, paged)
    filter_refused: float = 0.0  # a `$filter` naming externalReferenceId is a 400
    rate_cap: float = 0.0  # requests per second per organisation (0: no cap)
    webhook_dup: float = 0.0  # a webhook event is delivered twice
    webhook_reorder: float = 0.0  # a webhook event is held back behind the next one
    webhook_delay: float = 0.0  # a webhook event leaves uniform 0..S seconds late

    # Per-request faults, in the order of the one draw that picks them (`late`: creates only).
    _KEYS = MappingProxyType(
        {
            "429": "throttle",
            "500": "error",
            "503": "unavailable",
            "drop": "drop",
            "hang": "hang",
            "lost": "lost",
            "late": "late",
        }
    )
    # Per-list filter faults, in the order of their own draw.
    _FILTER_KEYS = MappingProxyType(
        {
            "filter-refused": "filter_refused",
            "filter-ignored": "filter_ignored",
            "filter-ci": "filter_ci",
        }
    )
    # Per-webhook-event faults: independent probabilities, each drawn from its own generator.
    _WEBHOOK_KEYS = MappingProxyType(
        {"webhook-dup": "webhook_dup", "webhook-reorder": "webhook_reorder"}
    )
    # Quantities (not probabilities), with their defaults.
    _AMOUNT_KEYS = MappingProxyType(
        {
            "retry-after": ("retry_after", 1.0),
            "late-delay": ("late_delay", 20.0),
            "list-lag": ("list_lag", 0.0),
            "rate-cap": ("rate_cap", 0.0),
            "webhook-delay": ("webhook_delay", 0.0),
        }
    )

    def __post_init__(self) -> None:
        total = sum(self.thresholds_order())
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities add up to {total:g}, more than 1")
        filters = sum(self.filter_thresholds())
        if filters > 1.0 + 1e-9:
            raise ValueError(f"filter fault probabilities add up to {filters:g}, more than 1")
        for key, (attr, _default) in self._AMOUNT_KEYS.items():
            if not getattr(self, attr) >= 0:
                raise ValueError(f"{key} must not be negative")

    def thresholds_order(self) -> tuple[float, ...]:
        """Probabilities in the order faults are drawn: 429, 500, 503, drop, hang, lost, late."""
        return tuple(getattr(self, attr) for attr in self._KEYS.values())

    def filter_thresholds(self) -> tuple[float, ...]:
        """Filter-fault probabilities in draw order: refused, ignored, case-insensitive."""
        return tuple(getattr(self, attr) for attr in self._FILTER_KEYS.values())

    @property
    def active(self) -> bool:
        return any(self.thresholds_order())

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        """Parse `429=0.05,500=0.02,...,retry-after=1`. Raises ValueError naming the bad part."""
        text = (spec or "").strip()
        if not text or text.lower() == "none":
            return cls()
        values: dict[str, float] = {}
        for part in text.split(","):
            key, sep, raw = part.strip().partition("=")
            key = key.strip().lower()
            if not sep or not raw.strip():
                raise ValueError(f"fault spec part {part.strip()!r} is not KEY=VALUE")
            if key in cls._AMOUNT_KEYS:
                values[cls._AMOUNT_KEYS[key][0]] = _number(key, raw.strip(), None)
            elif key in cls._KEYS:
                values[cls._KEYS[key]] = _number(key, raw.strip(), 1.0)
            elif key in cls._FILTER_KEYS:
                values[cls._FILTER_KEYS[key]] = _number(key, raw.strip(), 1.0)
            elif key in cls._WEBHOOK_KEYS:
                values[cls._WEBHOOK_KEYS[key]] = _number(key, raw.strip(), 1.0)
            else:
                known = ", ".join(
                    [*cls._KEYS, *cls._FILTER_KEYS, *cls._WEBHOOK_KEYS, *cls._AMOUNT_KEYS]
                )
                raise ValueError(f"unknown fault {key!r}; known: {known}")
        return cls(**values)

    def to_spec(self) -> str:
        """The canonical SPEC string (round-trips through `parse`)."""
        parts = [
            f"{key}={getattr(self, attr):g}"
            for key, attr in (
                *self._KEYS.items(),
                *self._FILTER_KEYS.items(),
                *self._WEBHOOK_KEYS.items(),
            )
            if getattr(self, attr)
        ]
        parts.append(f"retry-after={self.retry_after:g}")
        parts.extend(
            f"{key}={getattr(self, attr):g}"
            for key, (attr, default) in self._AMOUNT_KEYS.items()
            if key != "retry-after" and getattr(self, attr) != default
        )
        return ",".join(parts)


@dataclass(frozen=True, slots=True)
class Latency:
    """Added delay: `fixed_ms` plus a uniform draw in [0, `jitter_ms`)."""

    fixed_ms: float = 0.0
    jitter_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.fixed_ms < 0 or self.jitter_ms < 0:
            raise ValueError("latency must not be negative")

    @classmethod
    def parse(cls, spec: str | float | int) -> Latency:
        """`"50"`, `"50+20"` or a number of milliseconds."""
        if isinstance(spec, int | float):
            return cls(float(spec))
        fixed, _, jitter = str(spec).strip().partition("+")
        try:
            return cls(float(fixed), float(jitter) if jitter else 0.0)
        except ValueError as exc:
            if "negative" in str(exc):
                raise
            raise ValueError(f"latency {spec!r} is not FIXED[+JITTER] in ms") from None

    def to_spec(self) -> str:
        return f"{self.fixed_ms:g}+{self.jitter_ms:g}" if self.jitter_ms else f"{self.fixed_ms:g}"


def parse_latency_map(raw: Mapping[str, str | float | int]) -> dict[str, Latency]:
    """Per-route latency from `{"create": "50+10", "*": 20}`; keys are operation names or `*`."""
    out: dict[str, Latency] = {}
    for key, value in raw.items():
        if key != ANY_OPERATION and key not in OPERATIONS:
            known = ", ".join((*OPERATIONS, ANY_OPERATION))
            raise ValueError(f"unknown route {key!r} for latency; known: {known}")
        out[key] = Latency.parse(value)
    return out


@dataclass(frozen=True)
class SandboxConfig:
    """How a sandbox behaves. All fields have working defaults; tests override a few."""

    seed: int = 0
    organizations: tuple[Organization, ...] = (DEFAULT_ORGANIZATION,)
    # Access-token lifetime (Entra's default is about an hour); tests use short ones.
    token_lifetime_s: int = 3600
    # Lifetime of the token printed on the ready line (a local run may last a working day).
    ready_token_lifetime_s: int = 86_400
    # Refresh tokens expire when unused this long (Entra: 90 days of inactivity).
    refresh_token_idle_s: float = 90 * 86_400
    # Whether a refresh token stays usable after it was exchanged for a new one.
    refresh_token_reuse: bool = False
    # Device flow: the polling interval advertised, how many polls say "authorization_pending"
    # before the sandbox approves by itself, and who approves (alias, oid or upn).
    device_code_interval_s: int = 1
    device_code_pending_polls: int = 0
    device_code_user: str = "admin"
    device_code_lifetime_s: int = 900
    faults: FaultSpec = field(default_factory=FaultSpec)
    latency: Mapping[str, Latency] = field(default_factory=dict)
    # Faults (and latency) also on the token endpoint; off by default.
    fault_token_endpoint: bool = False
    # A hang holds the request this long at most (it ends sooner when the client goes away).
    hang_s: float = 120.0
    # Body shape of injected 429s: "plain" ({"statusCode", "message"}, as Microsoft's throttling
    # guidance shows) or "graph" ({"error": {"code": "throttled", ...}}).
    throttle_body: str = "plain"
    # Status of a successful create: 200 per Microsoft's connector swagger; 201 is possible.
    create_status: int = 200
    # [wire] 2022 responses carry `customerProfile.ids: [{"profileType": "Duns", "id": ""}]`
    # where none was given; the 2019 documented ones `[]`. True: the placeholder (harder).
    duns_placeholder: bool = True
    page_size: int = 100  # default and maximum $top ([docs] get-a-list-of-referrals: 100)
    # "documented": `http://<host>/v1.0/referrals?$skiptoken=...` (scheme and path as in
    # Microsoft's list example, pessimistic for a client); "sandbox": this URL with `$skip`.
    next_link: str = "sandbox"
    max_body_bytes: int = 1_000_000
    # Wall clock for token expiry and timestamps (POSIX seconds); tests pass a fake one.
    clock: Callable[[], float] = time.time
    # Webhooks: the subject O of the signing certificate (a receiver checks it), delivery
    # attempts per event ([docs] partner-center-webhooks: 10, then an offline queue), the first
    # retry's delay (doubling, at most `webhook_backoff_max_s`), a delivery's timeout, and test
    # events allowed per minute per organisation ([docs] webhook-events: 2).
    webhook_organization: str = "Microsoft Corporation"
    webhook_attempts: int = 10
    webhook_backoff_s: float = 1.0
    webhook_backoff_max_s: float = 300.0
    webhook_timeout_s: float = 10.0
    webhook_validations_per_minute: int = 2

    def __post_init__(self) -> None:
        if not self.organizations:
            raise ValueError("at least one organization is required")
        if self.throttle_body not in ("plain", "graph"):
            raise ValueError("throttle_body must be 'plain' or 'graph'")
        if self.next_link not in NEXT_LINK_STYLES:
            raise ValueError(f"next_link must be one of {', '.join(NEXT_LINK_STYLES)}")
        if self.webhook_attempts < 1:
            raise ValueError("webhook_attempts must be at least 1")
        if self.create_status not in (200, 201):
            raise ValueError("create_status must be 200 or 201")
        for key in self.latency:
            if key != ANY_OPERATION and key not in OPERATIONS:
                raise ValueError(f"unknown route {key!r} for latency")

    @property
    def default_organization(self) -> Organization:
        return self.organizations[0]


# ---- command-line options (`referral-relay sandbox`, `python -m partner_sandbox`) -------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sandbox's command-line options."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        metavar="N",
        help="fixed latency added to every API request, in milliseconds",
    )
    parser.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="fault probabilities, e.g. 429=0.05,500=0.02,503=0.02,drop=0.01,hang=0.01,"
        "lost=0.01,retry-after=1",
    )
    parser.add_argument(
        "--rate-cap",
        type=float,
        default=None,
        metavar="R",
        help="at most R Referrals API requests per second per organisation; beyond it 429 "
        "with Retry-After (same as rate-cap=R in --faults)",
    )
    parser.add_argument(
        "--next-link",
        choices=NEXT_LINK_STYLES,
        default="sandbox",
        help="@odata.nextLink style: 'sandbox' (this URL, same options, $skip) or 'documented' "
        "(http:// and /v1.0/referrals?$skiptoken=..., as Microsoft's list example shows)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault sequence and ids")
    parser.add_argument(
        "--token-lifetime",
        type=int,
        default=3600,
        metavar="SECONDS",
        help="lifetime of access tokens from the token endpoint (default 3600)",
    )


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """The config the options describe (other commands' namespaces may lack some options).
    Raises ValueError with a readable message when an option is malformed."""
    latency_ms = getattr(args, "latency_ms", 0.0)
    faults = FaultSpec.parse(getattr(args, "faults", ""))
    rate_cap = getattr(args, "rate_cap", None)
    if rate_cap is not None:
        faults = dataclasses.replace(faults, rate_cap=rate_cap)
    return SandboxConfig(
        seed=getattr(args, "seed", 0),
        faults=faults,
        next_link=getattr(args, "next_link", "sandbox"),
        latency={ANY_OPERATION: Latency(latency_ms)} if latency_ms else {},
        token_lifetime_s=getattr(args, "token_lifetime", 3600),
    )
