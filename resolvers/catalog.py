"""Catalog use cases: browse products, look them up, and find the offers that apply."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.catalog import Product, parse_id, validate_page_size
from domain.errors import InvalidInput
from domain.offers import Offer
from domain.ports import ProductQuery
from domain.text import check_text
from resolvers.deps import Deps
from resolvers.pagination import decode_cursor, encode_cursor

MAX_SEARCH_LENGTH = 100


@dataclass(frozen=True, slots=True)
class ProductEdge:
    cursor: str
    node: Product


@dataclass(frozen=True, slots=True)
class ProductPage:
    edges: list[ProductEdge]
    has_next_page: bool
    has_previous_page: bool


async def list_products(
    deps: Deps,
    *,
    first: int,
    after: str | None = None,
    search: str | None = None,
    category: str | None = None,
) -> ProductPage:
    first = validate_page_size(first=first, maximum=deps.max_page_size)
    search = check_text(search, field=["search"]).strip() if search else None
    if category is not None:
        check_text(category, field=["category"])
    if search and len(search) > MAX_SEARCH_LENGTH:
        raise InvalidInput(f"search is limited to {MAX_SEARCH_LENGTH} characters", field=["search"])
    after_sku = decode_cursor(after) if after else None
    if first == 0:
        return ProductPage(edges=[], has_next_page=False, has_previous_page=after is not None)
    rows = await deps.products.list_page(
        ProductQuery(first=first + 1, after_sku=after_sku, search=search, category=category)
    )
    edges = [ProductEdge(cursor=encode_cursor(p.sku), node=p) for p in rows[:first]]
    return ProductPage(
        edges=edges, has_next_page=len(rows) > first, has_previous_page=after is not None
    )


async def products_by_id(deps: Deps, ids: Sequence[str]) -> list[Product | None]:
    """Batch look-up for the DataLoader; malformed and inactive ids come back as None."""
    parsed = [parse_id(i) for i in ids]
    wanted = sorted({p for p in parsed if p is not None})
    found = dict(zip(wanted, await deps.products.get_many(wanted), strict=True)) if wanted else {}
    result: list[Product | None] = []
    for key in parsed:
        product = found.get(key) if key is not None else None
        result.append(product if product is not None and product.active else None)
    return result


async def live_offers(deps: Deps) -> list[Offer]:
    return await deps.offers.list_live(now=deps.clock.now())


async def offers_for_products(deps: Deps, products: Sequence[Product]) -> list[list[Offer]]:
    """Batch for ``Product.offers``: one read of the live offers serves every product."""
    offers = await live_offers(deps)
    return [offers_for(offers, p) for p in products]


def offers_for(offers: Sequence[Offer], product: Product) -> list[Offer]:
    """Those of ``offers`` whose scope includes ``product``, in their order."""
    return [o for o in offers if o.applies_to(product_id=product.id, category=product.category)]
