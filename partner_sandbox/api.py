"""The Referrals API routes under `/v1.0/engagements/referrals`, modelled on Microsoft's service.

Requests bind as ASP.NET Web API binds them (`partner_sandbox.resource`: names in any case,
unknown members ignored, Json.NET's conversions); what Partner Center refuses is in
`partner_sandbox.rules`; a referral is stored and served whole (every property, nulls, the
server's own values). Updates (PATCH with JSON Patch, the obsolete PUT) share one commit path:
status table, a closed referral is frozen, then `eTag` and `updatedDateTime` move on.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from partner_sandbox.config import ROLE_ADMIN, ROLE_USER, Organization, SandboxConfig
from partner_sandbox.faults import FaultInjector, FilterFault
from partner_sandbox.late import LateCommits
from partner_sandbox.odata import (
    FilterError,
    ListQuery,
    compile_filter,
    parse_list_query,
    skiptoken,
)
from partner_sandbox.problems import Problem
from partner_sandbox.rate_cap import RateCap
from partner_sandbox.resource import (
    REFERRAL,
    REGISTRATION,
    SERVER_SET,
    Arr,
    Obj,
    bind,
    canonical_segments,
    complete,
    normalise,
    shape_at,
)
from partner_sandbox.responses import ApiError, Throttled, json_response, read_body
from partner_sandbox.rules import (
    NOT_MODIFIABLE,
    PATCH_OPERATIONS,
    PATCH_PATHS,
    missing_required,
    status_problems,
)
from partner_sandbox.store import Referral, ReferralStore, wire_time
from partner_sandbox.tokens import Principal, TokenError, TokenService

if TYPE_CHECKING:
    from partner_sandbox.clock import Clock

COLLECTION: Final = "/v1.0/engagements/referrals"
# The path of the documented nextLink ([docs] get-a-list-of-referrals: `/v1.0/referrals`).
DOCUMENTED_COLLECTION: Final = "/v1.0/referrals"
# [docs] partner-center-webhook-events: a referral event's ResourceUri is
# {baseURL}/engagements/v1/referrals/{id}; the sandbox answers GET there as on COLLECTION/{id}.
WEBHOOK_RESOURCE: Final = "/engagements/v1/referrals/"
# Set by the app on a create the fault injector commits late: the POSIX time it lands.
LATE_SCOPE_KEY: Final = "partner_sandbox.late_due"
# [docs] Web API's JSON formatter reads application/json and text/json; JSON Patch bodies may
# also say application/json-patch+json. Anything else (or nothing) is 415.
JSON_MEDIA_TYPES: Final = frozenset({"application/json", "text/json"})
PATCH_MEDIA_TYPES: Final = JSON_MEDIA_TYPES | {"application/json-patch+json"}
# A new registration's status [guess: the value is not documented].
REGISTRATION_SUBMITTED: Final = "ReviewPending"


def _unauthenticated(message: str) -> ApiError:
    return ApiError(
        401,
        "unauthenticated",
        message,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _invalid(message: str, problems: list[Problem] | tuple[Problem, ...]) -> ApiError:
    return ApiError(
        400,
        "invalidRequest",
        message,
        target=problems[0].path if problems else None,
        details=problems,
        inner_code="validationFailed",
    )


def _problem(path: str, code: str, message: str) -> ApiError:
    return _invalid(message, [Problem(path, code, message)])


async def _json_body(request: Request, limit: int, media_types: frozenset[str]) -> Any:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in media_types:
        raise ApiError(
            415,
            "unsupportedMediaType",
            "The request entity's media type is not supported for this resource.",
        )
    raw = await read_body(request, limit)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _problem("", "invalid_json", "the request body is not valid JSON") from None


def _missing(bound: dict[str, Any], problems: list[Problem]) -> list[Problem]:
    """Required objects absent (not those that failed to bind: they already have a problem)."""
    failed = {p.path for p in problems}
    return [p for p in missing_required(bound) if p.path not in failed]


def _split_pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _join_pointer(segments: list[str]) -> str:
    return "".join("/" + s.replace("~", "~0").replace("/", "~1") for s in segments)


class ChangeListener(Protocol):
    """Told of every committed create and update (the webhooks)."""

    def __call__(self, org_id: str, referral: Referral, *, created: bool) -> None: ...


class ReferralsApi:
    def __init__(
        self,
        config: SandboxConfig,
        store: ReferralStore,
        tokens: TokenService,
        *,
        faults: FaultInjector,
        late: LateCommits,
        rate_cap: RateCap,
        clock: Clock | Callable[[], float],
        on_change: ChangeListener | None = None,
    ) -> None:
        self._config = config
        self._on_change = on_change
        self._store = store
        self._tokens = tokens
        self._faults = faults
        self._late = late
        self._rate_cap = rate_cap
        self._clock = clock
        self._orgs = {org.id: org for org in config.organizations}

    # ---- auth and the rate cap -----------------------------------------------------------

    def _principal(
        self, request: Request, *, write: bool = False
    ) -> tuple[Principal, Organization]:
        header = request.headers.get("authorization")
        if not header:
            raise _unauthenticated("No bearer token was sent.")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated("The Authorization header is not a bearer token.")
        try:
            principal = self._tokens.verify(token.strip())
        except TokenError as exc:
            raise _unauthenticated(exc.reason) from None
        if principal.app_only:
            raise ApiError(
                403,
                "accessDenied",
                "App-only tokens are not supported by the Referrals API; "
                "use an App+User (delegated) token.",
            )
        org = self._orgs.get(principal.tenant_id)
        if org is None:
            raise _unauthenticated("The token's tenant is not a Partner Center organization.")
        wait = self._rate_cap.admit(org.id, self._clock(), self._faults.spec.rate_cap)
        if wait is not None:
            self._faults.injected["rate-cap"] += 1
            raise Throttled(str(wait))
        if ROLE_ADMIN not in principal.roles:
            if write:
                raise ApiError(
                    403, "accessDenied", "This operation needs the Referrals Admin role."
                )
            if ROLE_USER not in principal.roles:
                raise ApiError(
                    403, "accessDenied", "The user has neither Referrals Admin nor Referrals User."
                )
        return principal, org

    @staticmethod
    def _visible(principal: Principal, referral: Referral) -> bool:
        """Referrals Admins see everything; Referrals Users only referrals whose team has them."""
        if ROLE_ADMIN in principal.roles:
            return True
        upn = (principal.upn or "").lower()
        team = referral.get("team")
        return (
            bool(upn)
            and isinstance(team, list)
            and any(isinstance(m, dict) and str(m.get("email") or "").lower() == upn for m in team)
        )

    def _find(self, request: Request, principal: Principal, org: Organization) -> Referral:
        referral_id = str(request.path_params["id"]).lower()
        referral = self._store.get(org.id, referral_id)
        if referral is None or not self._visible(principal, referral):
            raise ApiError(404, "itemNotFound", "No referral with this id exists.")
        return referral

    # ---- collection ----------------------------------------------------------------------

    async def collection(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.create(request)
        return self.list_referrals(request)

    async def create(self, request: Request) -> Response:
        _principal, org = self._principal(request, write=True)
        body = await _json_body(request, self._config.max_body_bytes, JSON_MEDIA_TYPES)
        if not isinstance(body, dict):
            raise _problem("", "invalid_type", "the body must be a referral object")
        problems: list[Problem] = []
        bound = bind(body, REFERRAL, problems)
        problems += _missing(bound, problems)
        if bound.get("status") is not None or bound.get("substatus") is not None:
            problems += status_problems(None, bound.get("status"), bound.get("substatus"))
        if problems:
            raise _invalid(f"The referral is invalid: {len(problems)} problem(s).", problems)
        engagement = bound.get("engagementId")
        if engagement is not None:
            engagement = engagement.lower()
            if not self._store.has_engagement(org.id, engagement):
                raise _problem(
                    "/engagementId",
                    "engagement_not_found",
                    "no engagement with this id exists in the organization",
                )
        else:
            engagement = self._store.new_id()
        referral_id = self._store.new_id()
        referral = {k: v for k, v in bound.items() if k not in SERVER_SET}
        referral.update(id=referral_id, engagementId=engagement)
        referral["organizationId"], referral["organizationName"] = org.id, org.name
        # Referrals we create are outgoing and come back accepted, whatever New/Pending was sent.
        referral.update(status="Active", substatus="Accepted", direction="Outgoing")
        base = str(request.base_url).rstrip("/")
        referral["links"] = {
            "relatedReferrals": {
                "uri": f"{base}{COLLECTION}?$filter=engagementId eq '{engagement}'",
                "method": "GET",
            },
            "self": {"uri": f"{base}{COLLECTION}/{referral_id}", "method": "GET"},
        }
        referral = normalise(referral, duns_placeholder=self._config.duns_placeholder)
        late_due = request.scope.get(LATE_SCOPE_KEY)
        if late_due is not None:  # the client is answered with a failure; it lands later
            self._late.schedule(org.id, referral, late_due)
            return Response(status_code=504)
        self.commit_new(org.id, referral, self._clock())
        return json_response(
            referral,
            self._config.create_status,
            {"ETag": referral["eTag"], "Location": referral["links"]["self"]["uri"]},
        )

    def commit_new(self, org_id: str, referral: Referral, at: float) -> None:
        """Store a created referral as committed at `at`: timestamps, eTag, list lag."""
        stamp = wire_time(at)
        referral["createdDateTime"] = referral["updatedDateTime"] = stamp
        # [docs] referral-resources: for outgoing referrals acceptedDateTime is the creation time.
        referral["acceptedDateTime"] = stamp
        referral["eTag"] = self._store.next_etag(at)
        lag = self._faults.spec.list_lag
        self._store.add(org_id, referral, listed_at=at + lag if lag else None)
        if self._on_change is not None:
            self._on_change(org_id, referral, created=True)

    def list_referrals(self, request: Request) -> Response:
        principal, org = self._principal(request)
        try:
            query = parse_list_query(request.query_params.multi_items(), self._config.page_size)
        except FilterError as exc:
            raise ApiError(400, "invalidRequest", str(exc), inner_code="invalidQuery") from None
        filter_ = query.filter
        if filter_ is not None:
            fault = self._faults.decide_filter("externalReferenceId" in filter_.names)
            if fault is FilterFault.REFUSED:
                raise ApiError(
                    400,
                    "invalidRequest",
                    "The query specified in the URI is not valid: the property "
                    "externalReferenceId cannot be used in the $filter query option.",
                    inner_code="invalidQuery",
                )
            if fault is FilterFault.IGNORED:
                filter_ = None
            elif fault is FilterFault.CASE_INSENSITIVE:
                filter_ = compile_filter(filter_.text, ignore_case=True)
        items = self._matching(principal, org, query, filter_)
        page = items[query.skip : query.skip + query.top]
        if query.select is not None:
            page = [{k: r[k] for k in query.select if k in r} for r in page]
        base = str(request.base_url).rstrip("/")
        body: dict[str, Any] = {"@odata.context": f"{base}/v1.0/$metadata#engagements/referrals"}
        if query.count:
            body["@odata.count"] = len(items)
        body["value"] = page
        if query.skip + query.top < len(items):
            body["@odata.nextLink"] = self._next_link(request, query)
        return json_response(body)

    def _next_link(self, request: Request, query: ListQuery) -> str:
        params = query.next_page_params()
        if self._config.next_link == "documented":
            # As Microsoft's list example shows it: http, a path without /engagements, an
            # opaque $skiptoken (quoted as the example quotes it).
            host = request.headers.get("host") or request.url.netloc
            token = quote(skiptoken(params), safe="")
            return f"http://{host}{DOCUMENTED_COLLECTION}?$skiptoken={token}"
        base = str(request.base_url).rstrip("/")
        encoded = urlencode(params, quote_via=quote, safe="$'(),/:@")
        return f"{base}{COLLECTION}?{encoded}"

    def _matching(
        self, principal: Principal, org: Organization, query: ListQuery, filter_: Any
    ) -> list[Referral]:
        pool = self._store.select(org.id, filter_.equalities if filter_ else ())
        now = self._clock()
        items: list[Referral] = []
        lagged = False
        for r in pool:
            if (filter_ is None or filter_.matches(r)) and self._visible(principal, r):
                if self._store.listed(org.id, r["id"], now):
                    items.append(r)
                else:
                    lagged = True
        if lagged:
            self._faults.injected["list-lag"] += 1
        for prop, descending in reversed(query.orderby):  # stable sorts, least significant first
            items.sort(key=_sort_key(prop), reverse=descending)
        return items

    # ---- one referral --------------------------------------------------------------------

    async def item(self, request: Request) -> Response:
        if request.method == "PATCH":
            return await self.patch(request)
        if request.method == "PUT":
            return await self.put(request)
        principal, org = self._principal(request)
        referral = self._find(request, principal, org)
        return json_response(referral, 200, {"ETag": referral["eTag"]})

    def _check_if_match(self, request: Request, referral: Referral, *, required: bool) -> None:
        if_match = request.headers.get("if-match")
        if if_match is None:
            if required:
                raise _problem("", "if_match_required", "the If-Match header is required")
            return
        if if_match.strip() != "*" and if_match.strip() != referral["eTag"]:
            raise ApiError(
                412, "preconditionFailed", "The referral was changed since this eTag was read."
            )

    async def patch(self, request: Request) -> Response:
        principal, org = self._principal(request, write=True)
        current = self._find(request, principal, org)
        self._check_if_match(request, current, required=False)
        operations = await _json_body(request, self._config.max_body_bytes, PATCH_MEDIA_TYPES)
        if not isinstance(operations, list) or not operations:
            raise _problem("", "invalid_patch", "the body must be a non-empty JSON Patch array")
        self._check_not_closed(current)
        proposed = copy.deepcopy(current)
        problems: list[Problem] = []
        registrations_before = len(proposed.get("registrations") or [])
        for index, operation in enumerate(operations):
            self._apply_operation(proposed, index, operation, problems)
        if problems:
            raise _invalid(f"The update is invalid: {len(problems)} problem(s).", problems)
        now = self._clock()
        for registration in (proposed.get("registrations") or [])[registrations_before:]:
            if isinstance(registration, dict):  # a new deal registration: the server's fields
                registration["id"] = registration.get("id") or self._store.new_id()
                registration["registrationDateTime"] = wire_time(now)
                history = registration.get("statusHistory") or {}
                history["reviewPendingDateTime"] = wire_time(now)
                registration["statusHistory"] = history
                proposed["registrationStatus"] = REGISTRATION_SUBMITTED
        updated = self._commit(org, current, complete(proposed, REFERRAL))
        if "return=representation" in request.headers.get("prefer", ""):
            return json_response(
                updated,
                200,
                {"ETag": updated["eTag"], "Preference-Applied": "return=representation"},
            )
        return Response(status_code=204, headers={"ETag": updated["eTag"]})

    def _apply_operation(
        self, referral: Referral, index: int, operation: Any, problems: list[Problem]
    ) -> None:
        where = f"/{index}"
        if not isinstance(operation, dict):
            problems.append(Problem(where, "invalid_patch", "each operation must be an object"))
            return
        fields = {str(k).lower(): v for k, v in operation.items()}  # Web API binds ignoring case
        op = str(fields.get("op", "")).lower()
        if op not in PATCH_OPERATIONS:
            problems.append(
                Problem(f"{where}/op", "unsupported_operation", "only add and replace are allowed")
            )
            return
        path = fields.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            problems.append(Problem(f"{where}/path", "invalid_patch", "must be a JSON Pointer"))
            return
        segments = canonical_segments(_split_pointer(path))
        if _join_pointer(segments) not in PATCH_PATHS:
            problems.append(Problem(f"{where}/path", "not_modifiable", NOT_MODIFIABLE))
            return
        if "value" not in fields:
            problems.append(Problem(f"{where}/value", "missing", "is required"))
            return
        shape = REGISTRATION if segments == ["registrations", "-"] else shape_at(segments)
        assert shape is not None  # every allowed path names a declared property
        value = bind(fields["value"], shape, problems, f"{where}/value")
        if not _set_at(referral, segments, value):
            problems.append(
                Problem(f"{where}/path", "invalid_patch", "the path does not exist in the referral")
            )

    @staticmethod
    def _check_not_closed(current: Referral) -> None:
        if current.get("status") == "Closed":
            raise _problem("/status", "referral_closed", "a closed referral cannot be changed")

    async def put(self, request: Request) -> Response:
        principal, org = self._principal(request, write=True)
        current = self._find(request, principal, org)
        self._check_if_match(request, current, required=True)
        body = await _json_body(request, self._config.max_body_bytes, JSON_MEDIA_TYPES)
        if not isinstance(body, dict):
            raise _problem("", "invalid_type", "the body must be a referral object")
        problems: list[Problem] = []
        bound = bind(body, REFERRAL, problems)
        if bound.get("id") is not None and bound["id"].lower() != current["id"]:
            problems.append(Problem("/id", "read_only_field", "is not the referral's id"))
        engagement = bound.get("engagementId")
        if engagement is not None and engagement.lower() != current["engagementId"]:
            problems.append(
                Problem("/engagementId", "read_only_field", "a referral cannot change engagement")
            )
        problems += _missing(bound, problems)
        if problems:
            raise _invalid(f"The update is invalid: {len(problems)} problem(s).", problems)
        self._check_not_closed(current)
        proposed = {k: v for k, v in bound.items() if k not in SERVER_SET}
        proposed.update({k: current.get(k) for k in SERVER_SET | {"engagementId"}})
        for name in ("status", "substatus"):  # a PUT that leaves status out keeps it
            if proposed.get(name) is None:
                proposed[name] = current.get(name)
        updated = self._commit(org, current, complete(proposed, REFERRAL))
        return json_response(updated, 200, {"ETag": updated["eTag"]})

    def _commit(self, org: Organization, current: Referral, proposed: Referral) -> Referral:
        """Check a new version against the status table; store it with a new eTag."""
        old_status, status = current.get("status"), proposed.get("status")
        if (status, proposed.get("substatus")) != (old_status, current.get("substatus")):
            problems = status_problems(str(old_status), status, proposed.get("substatus"))
            if problems:
                raise _invalid(problems[0].message, problems)
        now = self._clock()
        proposed["updatedDateTime"] = wire_time(now)
        proposed["eTag"] = self._store.next_etag(now)
        if status == "Closed":
            proposed["closedDateTime"] = wire_time(now)
        if status == "Active" and old_status != "Active" and not proposed.get("acceptedDateTime"):
            proposed["acceptedDateTime"] = wire_time(now)
        self._store.replace(org.id, proposed)
        if self._on_change is not None:
            self._on_change(org.id, proposed, created=False)
        return proposed


def _set_at(document: Any, segments: list[str], value: Any) -> bool:
    """Apply one add/replace at an allowed path. Missing objects and arrays on the way are
    created (nulls in the stored resource: the service would have an empty member there)."""
    shape: Any = REFERRAL
    target = document
    for segment in segments[:-1]:
        child_shape = shape_at_child(shape, segment)
        if isinstance(target, dict):
            if target.get(segment) is None:
                target[segment] = [] if isinstance(child_shape, Arr) else {}
            target = target[segment]
        elif isinstance(target, list) and segment.isdigit() and int(segment) < len(target):
            target = target[int(segment)]
        else:
            return False
        shape = child_shape
    last = segments[-1]
    if isinstance(target, dict):
        target[last] = value
        return True
    if isinstance(target, list):
        if last == "-":
            target.append(value)
            return True
        if last.isdigit() and int(last) < len(target):
            target[int(last)] = value
            return True
    return False


def shape_at_child(shape: Any, segment: str) -> Any:
    if isinstance(shape, Obj):
        return shape.members.get(segment)
    if isinstance(shape, Arr):
        return shape.item
    return None


def _sort_key(prop: str) -> Callable[[Referral], str]:
    return lambda referral: str(referral.get(prop) or "")
