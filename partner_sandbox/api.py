"""The Referrals API routes under `/v1.0/engagements/referrals` (fact sheet §1–7).

Create validates with the project's own contract (`shared.contracts.validation`), so the
sandbox refuses exactly what our models refuse, with the same pointers and codes. Updates
(PATCH with JSON Patch, the obsolete PUT) share one path: status table (§6), a closed referral is
frozen, the result is re-validated, then `eTag` and `updatedDateTime` move on.
"""

from __future__ import annotations

import json
import operator
from typing import Any, Final
from urllib.parse import quote, urlencode

import jsonpatch
import jsonpointer
from starlette.requests import Request
from starlette.responses import Response

from partner_sandbox.config import ROLE_ADMIN, ROLE_USER, Organization, SandboxConfig
from partner_sandbox.odata import FilterError, ListQuery, parse_list_query
from partner_sandbox.responses import ApiError, json_response, read_body
from partner_sandbox.store import Referral, ReferralStore, wire_time
from partner_sandbox.tokens import Principal, TokenError, TokenService
from shared.contracts.errors import ContractViolation, FieldError
from shared.contracts.referral import SERVER_FIELDS
from shared.contracts.status_rules import can_transition, is_valid_combination
from shared.contracts.validation import validate_referral_request

COLLECTION: Final = "/v1.0/engagements/referrals"
# What a PATCH or PUT may not change (server-managed), beyond the contract's SERVER_FIELDS.
READ_ONLY: Final = SERVER_FIELDS | {"engagementId"}
_STATUS_FIELDS: Final = ("status", "substatus")


def _unauthenticated(message: str) -> ApiError:
    return ApiError(
        401,
        "unauthenticated",
        message,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _invalid(message: str, errors: list[FieldError] | tuple[FieldError, ...]) -> ApiError:
    return ApiError(
        400,
        "invalidRequest",
        message,
        target=errors[0].path if errors else None,
        details=errors,
        inner_code="validationFailed",
    )


def _problem(path: str, code: str, message: str) -> ApiError:
    return _invalid(message, [FieldError(path=path, code=code, message=message)])


async def _json_body(request: Request, limit: int) -> Any:
    raw = await read_body(request, limit)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _problem("", "invalid_json", "the request body is not valid JSON") from None


class ReferralsApi:
    def __init__(self, config: SandboxConfig, store: ReferralStore, tokens: TokenService) -> None:
        self._config = config
        self._store = store
        self._tokens = tokens
        self._orgs = {org.id: org for org in config.organizations}

    # ---- auth ----------------------------------------------------------------------------

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
        body = await _json_body(request, self._config.max_body_bytes)
        try:
            validate_referral_request(body)
        except ContractViolation as violation:
            raise _invalid(
                f"The referral is invalid: {len(violation.errors)} problem(s).", violation.errors
            ) from None
        engagement = body.get("engagementId")
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
        now = self._config.clock()
        stamp = wire_time(now)
        base = str(request.base_url).rstrip("/")
        referral: Referral = {
            "id": referral_id,
            "engagementId": engagement,
            "organizationId": org.id,
            "organizationName": org.name,
            "externalReferenceId": None,
            "createdDateTime": stamp,
            "updatedDateTime": stamp,
            "expirationDateTime": None,
        }
        referral.update(body)
        referral["engagementId"] = engagement
        # Referrals we create are outgoing and come back accepted, whatever New/Pending was sent.
        referral["status"] = "Active"
        referral["substatus"] = "Accepted"
        referral["direction"] = "Outgoing"
        referral["eTag"] = self._store.next_etag(now)
        referral["links"] = {
            "relatedReferrals": {
                "uri": f"{base}{COLLECTION}?$filter=engagementId eq '{engagement}'",
                "method": "GET",
            },
            "self": {"uri": f"{base}{COLLECTION}/{referral_id}", "method": "GET"},
        }
        self._store.add(org.id, referral)
        return json_response(
            referral,
            self._config.create_status,
            {"ETag": referral["eTag"], "Location": referral["links"]["self"]["uri"]},
        )

    def list_referrals(self, request: Request) -> Response:
        principal, org = self._principal(request)
        try:
            query = parse_list_query(request.query_params.multi_items(), self._config.page_size)
        except FilterError as exc:
            raise ApiError(400, "invalidRequest", str(exc), inner_code="invalidQuery") from None
        items = self._matching(principal, org, query)
        page = items[query.skip : query.skip + query.top]
        if query.select is not None:
            page = [{k: r[k] for k in query.select if k in r} for r in page]
        base = str(request.base_url).rstrip("/")
        body: dict[str, Any] = {"@odata.context": f"{base}/v1.0/$metadata#engagements/referrals"}
        if query.count:
            body["@odata.count"] = len(items)
        body["value"] = page
        if query.skip + query.top < len(items):
            params = urlencode(query.next_page_params(), quote_via=quote, safe="$'(),/:@")
            body["@odata.nextLink"] = f"{base}{COLLECTION}?{params}"
        return json_response(body)

    def _matching(
        self, principal: Principal, org: Organization, query: ListQuery
    ) -> list[Referral]:
        filter_ = query.filter
        pool = self._store.select(org.id, filter_.equalities if filter_ else ())
        items = [
            r
            for r in pool
            if (filter_ is None or filter_.matches(r)) and self._visible(principal, r)
        ]
        for prop, descending in reversed(query.orderby):  # stable sorts, least significant first
            items.sort(key=operator.itemgetter(prop), reverse=descending)
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
        operations = await _json_body(request, self._config.max_body_bytes)
        if not isinstance(operations, list) or not operations:
            raise _problem("", "invalid_patch", "the body must be a non-empty JSON Patch array")
        for index, operation in enumerate(operations):
            self._check_operation(index, operation)
        self._check_not_closed(current)
        try:
            proposed = jsonpatch.apply_patch(current, operations)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
            raise _problem(
                "", "invalid_patch", "the patch does not apply to this referral"
            ) from None
        updated = self._commit(org, current, proposed)
        if "return=representation" in request.headers.get("prefer", ""):
            return json_response(
                updated,
                200,
                {"ETag": updated["eTag"], "Preference-Applied": "return=representation"},
            )
        return Response(status_code=204, headers={"ETag": updated["eTag"]})

    @staticmethod
    def _check_operation(index: int, operation: Any) -> None:
        where = f"/{index}"
        if not isinstance(operation, dict):
            raise _problem(where, "invalid_patch", "each patch operation must be an object")
        op = operation.get("op")
        if op not in ("add", "replace"):
            raise _problem(
                f"{where}/op",
                "unsupported_operation",
                "only add and replace operations are allowed",
            )
        path = operation.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise _problem(f"{where}/path", "invalid_patch", "path must be a JSON Pointer")
        if "value" not in operation:
            raise _problem(f"{where}/value", "missing", "is required")
        top = path.split("/")[1].replace("~1", "/").replace("~0", "~")
        if top in READ_ONLY:
            raise _problem(path, "read_only_field", "is set by Partner Center and cannot change")

    @staticmethod
    def _check_not_closed(current: Referral) -> None:
        if current.get("status") == "Closed":
            raise _problem("/status", "referral_closed", "a closed referral cannot be changed")

    async def put(self, request: Request) -> Response:
        principal, org = self._principal(request, write=True)
        current = self._find(request, principal, org)
        self._check_if_match(request, current, required=True)
        body = await _json_body(request, self._config.max_body_bytes)
        if not isinstance(body, dict):
            raise _problem("", "not_an_object", "the body must be a referral object")
        if "id" in body and str(body["id"]).lower() != current["id"]:
            raise _problem("/id", "read_only_field", "does not match the referral being replaced")
        if "engagementId" in body and str(body["engagementId"]).lower() != current["engagementId"]:
            raise _problem(
                "/engagementId", "read_only_field", "a referral cannot change engagement"
            )
        self._check_not_closed(current)
        proposed = {k: v for k, v in current.items() if k in READ_ONLY}
        proposed.update(
            (k, v) for k, v in body.items() if k not in READ_ONLY and not k.startswith("@odata.")
        )
        for field in _STATUS_FIELDS:  # a PUT that leaves status out keeps it
            proposed.setdefault(field, current.get(field))
        updated = self._commit(org, current, proposed)
        return json_response(updated, 200, {"ETag": updated["eTag"]})

    def _commit(self, org: Organization, current: Referral, proposed: Referral) -> Referral:
        """Check a proposed new version against the status table and the contract; store it."""
        old_status, status = current.get("status"), proposed.get("status")
        substatus = proposed.get("substatus")
        if not isinstance(status, str) or not can_transition(str(old_status), status):
            raise _problem("/status", "invalid_transition", "this status change is not allowed")
        if not isinstance(substatus, str) or not is_valid_combination(status, substatus):
            raise _problem(
                "/substatus",
                "invalid_status_combination",
                "is not allowed with this status",
            )
        client_part = {
            k: v for k, v in proposed.items() if k not in READ_ONLY and k not in _STATUS_FIELDS
        }
        try:
            validate_referral_request(client_part)
        except ContractViolation as violation:
            raise _invalid(
                f"The update is invalid: {len(violation.errors)} problem(s).", violation.errors
            ) from None
        now = self._config.clock()
        proposed["updatedDateTime"] = wire_time(now)
        proposed["eTag"] = self._store.next_etag(now)
        if status == "Closed":
            proposed["closedDateTime"] = wire_time(now)
        if status == "Active" and old_status != "Active":
            proposed["acceptedDateTime"] = wire_time(now)
        self._store.replace(org.id, proposed)
        return proposed
