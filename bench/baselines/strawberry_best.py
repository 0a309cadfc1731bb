"""Baseline (b): Strawberry's in-memory best case, under uvicorn. The same response shapes as the
project's catalog page and ``cart`` query, over the same data held in memory (what the project
answered, read once from ``BENCH_DATA_FILE``: ``{"catalog": data, "cart": data}``), with sync
resolvers and Strawberry's ParserCache and ValidationCache. No database, no authentication (the
cart is answered when an Authorization header is present), no middleware.

    BENCH_DATA_FILE=data.json uvicorn bench.baselines.strawberry_best:create_app --factory
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import Info


@strawberry.type
class Money:
    amount: int
    currency: str
    formatted: str


@strawberry.type
class Offer:
    code: str


@strawberry.type
class Product:
    id: strawberry.ID
    title: str
    category: str
    price: Money
    gst_rate_bp: int
    offers: list[Offer]


@strawberry.type
class ProductEdge:
    cursor: str
    node: Product


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class ProductConnection:
    edges: list[ProductEdge]
    page_info: PageInfo


@strawberry.type
class CartLine:
    id: strawberry.ID
    product: Product
    quantity: int
    unit_price: Money
    total: Money


@strawberry.type
class CartCost:
    subtotal: Money
    discount: Money
    tax: Money
    total: Money


@strawberry.type
class Cart:
    id: strawberry.ID
    version: int
    lines: list[CartLine]
    cost: CartCost


def _money(found: dict[str, Any]) -> Money:
    return Money(amount=found["amount"], currency=found["currency"], formatted=found["formatted"])


def _catalog(data: dict[str, Any]) -> tuple[list[ProductEdge], PageInfo]:
    edges = [
        ProductEdge(
            cursor=edge["cursor"],
            node=Product(
                id=strawberry.ID(edge["node"]["id"]),
                title=edge["node"]["title"],
                category=edge["node"]["category"],
                price=_money(edge["node"]["price"]),
                gst_rate_bp=edge["node"]["gstRateBp"],
                offers=[Offer(code=o["code"]) for o in edge["node"]["offers"]],
            ),
        )
        for edge in data["products"]["edges"]
    ]
    info = data["products"]["pageInfo"]
    return edges, PageInfo(has_next_page=info["hasNextPage"], end_cursor=info["endCursor"])


def _cart(data: dict[str, Any] | None, products: dict[str, Product]) -> Cart | None:
    if not data or not data.get("cart"):
        return None
    cart = data["cart"]
    return Cart(
        id=strawberry.ID(cart["id"]),
        version=cart["version"],
        lines=[
            CartLine(
                id=strawberry.ID(line["id"]),
                product=products[line["product"]["id"]],
                quantity=line["quantity"],
                unit_price=_money(line["unitPrice"]),
                total=_money(line["total"]),
            )
            for line in cart["lines"]
        ],
        cost=CartCost(**{k: _money(v) for k, v in cart["cost"].items()}),
    )


def build_schema(data: dict[str, Any]) -> strawberry.Schema:
    edges, page_info = _catalog(data["catalog"])
    products = {str(edge.node.id): edge.node for edge in edges}
    cart = _cart(data.get("cart"), products)

    @strawberry.type
    class Query:
        @strawberry.field
        def products(self, first: int = 20) -> ProductConnection:
            page = edges[:first]
            more = len(edges) > first
            end = page[-1].cursor if page else None
            return ProductConnection(
                edges=page,
                page_info=PageInfo(has_next_page=more, end_cursor=end)
                if first < len(edges)
                else page_info,
            )

        @strawberry.field
        def cart(self, info: Info) -> Cart | None:
            return cart if "authorization" in info.context["request"].headers else None

    return strawberry.Schema(
        query=Query,
        extensions=[lambda: ParserCache(maxsize=100), lambda: ValidationCache(maxsize=100)],
    )


def create_app() -> Starlette:
    data = json.loads(Path(os.environ["BENCH_DATA_FILE"]).read_text())
    view = GraphQL(build_schema(data), graphql_ide=None)
    return Starlette(routes=[Route("/graphql", view, methods=["GET", "POST"])])
