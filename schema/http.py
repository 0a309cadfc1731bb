"""GraphQL over HTTP: Strawberry's ASGI view, adapted.

* the context is built per request from the app's ``Deps`` (DataLoaders included);
* every response, including HTTP-level failures, carries ``extensions.requestId``;
* ``Accept: application/graphql-response+json`` gets that media type and the spec's status codes;
* GraphiQL is served with assets from the app itself (works offline);
* rate limits are charged once per HTTP request, before any operation runs (a batch is one
  request): over a limit the whole request answers 429 with ``Retry-After``
  (``schema/rate_limits.py``);
* automatic persisted queries are resolved first of all (``schema/persisted.py``): the rate
  limits and the query cost see the stored query of a hash-only request;
* anonymous catalog-only queries are answered from the response cache
  (``schema/response_cache.py``); GET answers to them are ``Cache-Control: public``, every
  other answer ``private, no-store``, all with ``Vary: Authorization, Accept``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from functools import cached_property
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException  # a declared dependency
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema import BaseSchema
from strawberry.types import ExecutionResult, SubscriptionExecutionResult

from domain.client_ip import CLIENT_IP_STATE_KEY, UNKNOWN_CLIENT
from domain.errors import Unauthenticated
from domain.identity import Principal
from domain.ports import PersistedQueryStore
from domain.rate_limits import RateLimited
from domain.response_cache import PRIVATE_CACHE_CONTROL, PUBLIC_CACHE_CONTROL
from resolvers import metrics, rate_limits
from resolvers.deps import Deps
from schema import persisted
from schema.context import Context
from schema.cost import costs_remembered
from schema.error_answers import code_of_status, error_body, error_response
from schema.rate_limits import Operation, RequestCost, request_charge, unit_cost
from schema.response_cache import ResponseCache, cache_key, schema_namespace

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
    # None: no operation ran yet; True while every one ran was a cacheable GET answer
    public: bool | None = None


def _no_cache() -> None:
    return None


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
        persisted_queries: Callable[[], PersistedQueryStore | None] = _no_cache,
        response_cache: Callable[[], ResponseCache | None] = _no_cache,
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql" if ide_html else None)
        self._deps = deps
        self._identify = identify
        self._ide_html = ide_html
        self._ide_headers = {"content-security-policy": ide_csp} if ide_csp else {}
        self._request_cost = request_cost
        self._persisted_queries = persisted_queries
        self._response_cache = response_cache

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
        response.headers.setdefault("cache-control", PRIVATE_CACHE_CONTROL)
        _vary_on_authorization(response)
        await response(scope, receive, send)

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """Not for a GET that names a persisted query (it has no ``query`` either)."""
        return super().should_render_graphql_ide(request) and not request.query_params.get(
            "extensions"
        )

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        """Fill in persisted queries, then charge the rate limits for the whole request
        (raises :class:`RateLimited`), then run what is left to run."""
        store = self._persisted_queries()
        items = request_data if isinstance(request_data, list) else [request_data]
        resolved = [await persisted.resolve(d, store=store) for d in items]
        runnable = [r for r in resolved if isinstance(r, persisted.Resolved)]
        if context.deps.rate_limiter is not None:
            charge = request_charge(
                (
                    Operation(r.data.query, r.data.operation_name, r.data.variables)
                    for r in runnable
                ),
                cost=self._request_cost,
            )
            await rate_limits.admit_graphql(
                context.deps,
                user=context.principal.subject if context.principal else None,
                ip=client_ip_of(request.scope),
                weight=charge.weight,
                mutations=charge.mutations,
            )
        if not isinstance(request_data, list):
            [only] = resolved
            if isinstance(only, ExecutionResult):
                _mark(sub_response, public=False)
                return only
            result = await super().execute_operation(
                request=request,
                request_adapter=request_adapter,
                request_data=only.data,
                context=context,
                root_value=root_value,
                sub_response=sub_response,
            )
            await persisted.remember(only, result, store=store)
            return result
        ran = await asyncio.gather(
            *(
                self.execute_single(
                    request=request,
                    request_adapter=request_adapter,
                    sub_response=sub_response,
                    context=context,
                    root_value=root_value,
                    request_data=r.data,
                )
                for r in runnable
            )
        )
        answers = iter(ran)
        results: list[ExecutionResult] = []
        for r in resolved:
            if isinstance(r, ExecutionResult):
                _mark(sub_response, public=False)
                results.append(r)
            else:
                answer = next(answers)
                await persisted.remember(r, answer, store=store)
                results.append(answer)
        return results

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Anonymous catalog-only queries through the response cache; the rest as they are."""
        key = await self._cache_key(request, context, request_data)
        cache = self._response_cache() if key is not None else None
        if key is None or cache is None:
            _mark(sub_response, public=False)
            return await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=request_data,
            )
        hit = await cache.store.get(key)
        if hit is not None:
            _mark(sub_response, public=request_adapter.method == "GET")
            return ExecutionResult(
                data=hit.get("data"), errors=None, extensions=dict(hit.get("extensions") or {})
            )
        result = await super().execute_single(
            request=request,
            request_adapter=request_adapter,
            sub_response=sub_response,
            context=context,
            root_value=root_value,
            request_data=request_data,
        )
        answered = not result.errors and result.data is not None
        if answered:
            await cache.store.put(
                key, {"data": result.data, "extensions": dict(result.extensions or {})}
            )
        _mark(sub_response, public=answered and request_adapter.method == "GET")
        return result

    @cached_property
    def _cache_namespace(self) -> str:
        cache = self._response_cache()
        return schema_namespace(self.schema.as_str(), cache.namespace if cache else "")

    async def _cache_key(
        self, request: Request, context: Context, data: GraphQLRequestData
    ) -> str | None:
        """The response-cache entry of an anonymous catalog-only query (None: not cacheable)."""
        if context.principal is not None or context.auth_error is not None:
            return None
        if "authorization" in request.headers:
            return None
        cache = self._response_cache()
        if cache is None:
            return None
        return await cache_key(
            cache,
            namespace=self._cache_namespace,
            query=data.query,
            operation_name=data.operation_name,
            variables=data.variables,
            state=request.scope.setdefault("state", {}),
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
        public = isinstance(sub_response, _SubResponse) and sub_response.public is True
        response = super().create_response(response_data, sub_response)
        if wants:
            response.headers["content-type"] = GRAPHQL_RESPONSE_JSON
        response.headers["cache-control"] = (
            PUBLIC_CACHE_CONTROL if public else PRIVATE_CACHE_CONTROL
        )
        _vary_on_authorization(response)
        return response

    def encode_json(self, data: object) -> str:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _mark(sub_response: Response, *, public: bool) -> None:
    """A public answer only when every operation of the request is one."""
    if isinstance(sub_response, _SubResponse):
        sub_response.public = public and sub_response.public is not False


def _vary_on_authorization(response: Response) -> None:
    """The answer differs by caller, and by ``Accept`` (its media type follows it): a shared
    cache (CloudFront) must key on both."""
    vary = [v.strip() for v in response.headers.get("vary", "").split(",") if v.strip()]
    present = {v.lower() for v in vary}
    added = [name for name in ("Authorization", "Accept") if name.lower() not in present]
    if added:
        response.headers["vary"] = ", ".join([*vary, *added])
