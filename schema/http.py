"""GraphQL over HTTP: Strawberry's ASGI view, adapted.

* the context is built per request from the app's ``Deps`` (DataLoaders included);
* every response, including HTTP-level failures, carries ``extensions.requestId``;
* ``Accept: application/graphql-response+json`` gets that media type and the spec's status codes;
* GraphiQL is served with assets from the app itself (works offline);
* rate limits are charged once per HTTP request, before any operation runs (a batch is one
  request): over a limit the whole request answers 429 with ``Retry-After``
  (``schema/rate_limits.py``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException  # a declared dependency
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.schema import BaseSchema
from strawberry.types import ExecutionResult, SubscriptionExecutionResult

from domain.client_ip import CLIENT_IP_STATE_KEY, UNKNOWN_CLIENT
from domain.errors import Unauthenticated
from domain.identity import Principal
from domain.rate_limits import RateLimited
from resolvers import metrics, rate_limits
from resolvers.deps import Deps
from schema.context import Context
from schema.cost import costs_remembered
from schema.error_answers import code_of_status, error_body, error_response
from schema.rate_limits import Operation, RequestCost, request_charge, unit_cost

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
# JSON nested deeper than this (body, GET variables or extensions) is refused with 400 before
# anything walks it: GraphQL inputs need a handful of levels, recursion would need ~1000.
MAX_JSON_DEPTH = 64
TOO_DEEP = "request JSON is nested too deeply"

# Who is calling, and why not when a token was sent but refused (composition root decides how).
Identity = tuple[Principal | None, Unauthenticated | None]


def request_id_of(scope: Scope) -> str:
    state = scope.get("state") or {}
    request_id = state.get("request_id")
    return request_id if isinstance(request_id, str) else str(uuid.uuid4())


def _nested_deeper_than(value: object, limit: int) -> bool:
    """Whether ``value`` (parsed JSON) nests lists/objects deeper than ``limit``; no recursion."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            if depth + 1 > limit:
                return True
            stack.extend((child, depth + 1) for child in node)
    return False


def client_ip_of(scope: Scope) -> str:
    """The client's rate-limit key, as the app's middleware found it."""
    client_ip = (scope.get("state") or {}).get(CLIENT_IP_STATE_KEY)
    return client_ip if isinstance(client_ip, str) else UNKNOWN_CLIENT


def _is_request_error(data: GraphQLHTTPResponse) -> bool:
    """Parse/validation failures: no data, and errors that point at no field."""
    errors: list[Any] = list(data.get("errors") or [])
    return data.get("data") is None and bool(errors) and all("path" not in e for e in errors)


class _SubResponse(Response):
    wants_graphql_response: bool = False
    request_id: str = ""


class GraphQLApp(GraphQL[Context, None]):
    def __init__(
        self,
        schema: BaseSchema,
        *,
        deps: Callable[[], Deps],
        identify: Callable[[Request], Identity],
        ide_html: str | None,
        ide_csp: str | None = None,
        request_cost: RequestCost = unit_cost,
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql" if ide_html else None)
        self._deps = deps
        self._identify = identify
        self._ide_html = ide_html
        self._ide_headers = {"content-security-policy": ide_csp} if ide_csp else {}
        self._request_cost = request_cost

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            with costs_remembered():  # the rate limits and QueryCostLimiter price it once
                response = await self.run(request)
        except HTTPException as exc:
            response = self._http_error(exc, request_id=request_id_of(scope))
        except RateLimited as exc:
            response = self._rate_limited(exc, request=request)
        await response(scope, receive, send)

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        """Charge the rate limits for the whole request first (raises :class:`RateLimited`)."""
        if context.deps.rate_limiter is not None:
            data = request_data if isinstance(request_data, list) else [request_data]
            charge = request_charge(
                (Operation(d.query, d.operation_name, d.variables) for d in data),
                cost=self._request_cost,
            )
            await rate_limits.admit_graphql(
                context.deps,
                user=context.principal.subject if context.principal else None,
                ip=client_ip_of(request.scope),
                weight=charge.weight,
                mutations=charge.mutations,
            )
        return await super().execute_operation(
            request=request,
            request_adapter=request_adapter,
            request_data=request_data,
            context=context,
            root_value=root_value,
            sub_response=sub_response,
        )

    @staticmethod
    def _rate_limited(exc: RateLimited, *, request: Request) -> Response:
        refusal = error_body(
            exc.message,
            code=exc.code.value,
            request_id=request_id_of(request.scope),
            extensions={"retryAfter": exc.retry_after},
        )
        wants = GRAPHQL_RESPONSE_JSON in request.headers.get("accept", "")
        return JSONResponse(
            {"data": None, **refusal},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
            media_type=GRAPHQL_RESPONSE_JSON if wants else None,
        )

    @staticmethod
    def _http_error(exc: HTTPException, *, request_id: str) -> Response:
        code = code_of_status(exc.status_code)
        metrics.record(metrics.ERRORS, code=code)
        return error_response(exc.reason, status=exc.status_code, code=code, request_id=request_id)

    def decode_json(self, data: str | bytes) -> object:
        """Strawberry's parsing of the body and of GET's variables/extensions, bounded: JSON
        nested too deeply is a 400, never a RecursionError (a bare 500)."""
        try:
            value = json.loads(data)
        except RecursionError:
            raise HTTPException(400, TOO_DEEP) from None
        if _nested_deeper_than(value, MAX_JSON_DEPTH):
            raise HTTPException(400, TOO_DEEP)
        return value

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        principal, auth_error = (
            self._identify(request) if isinstance(request, Request) else (None, None)
        )
        return Context(
            request=request if isinstance(request, Request) else None,
            response=response if isinstance(response, Response) else None,
            deps=self._deps(),
            request_id=request_id_of(request.scope),
            principal=principal,
            auth_error=auth_error,
        )

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub = _SubResponse()
        sub.status_code = None  # type: ignore[assignment]
        del sub.headers["content-length"]
        sub.wants_graphql_response = GRAPHQL_RESPONSE_JSON in request.headers.get("accept", "")
        sub.request_id = request_id_of(request.scope)
        return sub

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self._ide_html or "", headers=self._ide_headers)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data = process_result(result)
        extensions: dict[str, Any] = dict(data.get("extensions") or {})
        extensions["requestId"] = request_id_of(request.scope)
        data["extensions"] = extensions
        return data

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        wants = isinstance(sub_response, _SubResponse) and sub_response.wants_graphql_response
        request_error = isinstance(response_data, dict) and _is_request_error(response_data)
        if wants and request_error and isinstance(response_data, dict):
            # GraphQL-over-HTTP: a request error has no ``data`` entry and a 4xx status.
            response_data = {k: v for k, v in response_data.items() if k != "data"}  # type: ignore[assignment]
            sub_response.status_code = sub_response.status_code or 400
        response = super().create_response(response_data, sub_response)
        if wants:
            response.headers["content-type"] = GRAPHQL_RESPONSE_JSON
        return response

    def encode_json(self, data: object) -> str:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
