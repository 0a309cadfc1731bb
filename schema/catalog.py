"""Catalog types and queries: products, offers, Money."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import cast

import strawberry
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from domain.catalog import Product as ProductEntity
from domain.identity import Role
from domain.offers import Offer as OfferEntity
from domain.offers import OfferKind
from resolvers import catalog
from schema.context import Context
from schema.permissions import auth_field
from schema.types import Money, PageInfo, money, money_or_none, page_info

strawberry.enum(OfferKind)


@strawberry.type
class Offer:
    id: strawberry.ID
    code: str
    description: str
    kind: OfferKind
    percent_bp: int | None
    flat: Money | None
    max_discount: Money | None
    min_subtotal: Money | None
    starts_at: datetime | None
    ends_at: datetime | None
    product_ids: list[strawberry.ID]
    categories: list[str]
    usage_limit: int | None
    per_customer_limit: int | None

    @classmethod
    def from_domain(cls, offer: OfferEntity) -> Offer:
        return cls(
            id=strawberry.ID(offer.id),
            code=offer.code,
            description=offer.description,
            kind=offer.kind,
            percent_bp=offer.percent_bp,
            flat=money_or_none(offer.flat),
            max_discount=money_or_none(offer.max_discount),
            min_subtotal=money_or_none(offer.min_subtotal),
            starts_at=offer.starts_at,
            ends_at=offer.ends_at,
            product_ids=[strawberry.ID(p) for p in offer.product_ids],
            categories=list(offer.categories),
            usage_limit=offer.usage_limit,
            per_customer_limit=offer.per_customer_limit,
        )


@strawberry.type
class Product:
    id: strawberry.ID
    sku: str
    title: str
    description: str
    category: str
    price: Money
    gst_rate_bp: int = strawberry.field(description="GST rate in basis points: 18 % is 1800.")
    stock: int = strawberry.field(
        description="Units customers can still buy: on hand minus those open payment sessions hold."
    )
    image_url: str | None
    entity: strawberry.Private[ProductEntity]
    # this product's live offers, when the query that found it read them already (a page)
    live_offers: strawberry.Private[list[Offer] | None] = None

    @classmethod
    def from_domain(cls, product: ProductEntity, *, offers: list[Offer] | None = None) -> Product:
        return cls(
            id=strawberry.ID(product.id),
            sku=product.sku,
            title=product.title,
            description=product.description,
            category=product.category,
            price=money(product.price),
            gst_rate_bp=product.gst_rate_bp,
            stock=product.stock,
            image_url=product.image_url,
            entity=product,
            live_offers=offers,
        )

    @auth_field(
        requires=Role.ADMIN,
        description="Units on the shelf, those open payment sessions hold included.",
    )
    def stock_on_hand(self) -> int | None:
        return self.entity.stock_on_hand

    @strawberry.field(description="Live offers whose scope includes this product.")
    def offers(self, info: Info[Context, None]) -> list[Offer]:
        """Synchronous for a page's products (their offers came with the page: no coroutine
        per product); a product found otherwise loads them (one batch per request)."""
        if self.live_offers is not None:
            return self.live_offers
        # an awaitable, which the executor awaits (a sync resolver may return one)
        return cast(list[Offer], _loaded_offers(info.context, self.entity))


async def _loaded_offers(context: Context, product: ProductEntity) -> list[Offer]:
    return [Offer.from_domain(o) for o in await context.loaders.offers_by_product.load(product)]


def _selects(selections: Iterable[Selection], name: str) -> bool:
    """Whether a field called ``name`` is selected anywhere under ``selections``."""
    for selection in selections:
        if isinstance(selection, SelectedField) and selection.name == name:
            return True
        if isinstance(selection, SelectedField | FragmentSpread | InlineFragment) and _selects(
            selection.selections, name
        ):
            return True
    return False


async def _page_offers(
    info: Info[Context, None], products: Sequence[ProductEntity]
) -> list[list[Offer]] | None:
    """Each product's live offers, read once for the page (one read of the live offers, the
    GraphQL objects made once per offer), when the query asks for them; else None."""
    if not products or not _selects(info.selected_fields, "offers"):
        return None
    live = await catalog.live_offers(info.context.deps)
    shown = {o.id: Offer.from_domain(o) for o in live}
    return [[shown[o.id] for o in catalog.offers_for(live, p)] for p in products]


@strawberry.type
class ProductEdge:
    cursor: str
    node: Product


@strawberry.type
class ProductConnection:
    edges: list[ProductEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[Product]:
        return [edge.node for edge in self.edges]


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="Active products ordered by SKU; at most 100 a page.")
    async def products(
        self,
        info: Info[Context, None],
        first: int | None = 20,
        after: str | None = None,
        search: str | None = None,
        category: str | None = None,
    ) -> ProductConnection:
        page = await catalog.list_products(
            info.context.deps,
            first=20 if first is None else first,
            after=after,
            search=search,
            category=category,
        )
        offers = await _page_offers(info, [e.node for e in page.edges])
        edges = [
            ProductEdge(
                cursor=e.cursor,
                node=Product.from_domain(e.node, offers=None if offers is None else offers[i]),
            )
            for i, e in enumerate(page.edges)
        ]
        return ProductConnection(
            edges=edges,
            page_info=page_info(
                edges, has_next_page=page.has_next_page, has_previous_page=page.has_previous_page
            ),
        )

    @strawberry.field(description="A product by id; null when unknown, inactive or malformed.")
    async def product(self, info: Info[Context, None], id: strawberry.ID) -> Product | None:
        found = await info.context.loaders.product_by_id.load(str(id))
        return Product.from_domain(found) if found is not None else None

    @strawberry.field(description="Live offers anyone may see.")
    async def offers(self, info: Info[Context, None]) -> list[Offer]:
        return [Offer.from_domain(o) for o in await catalog.live_offers(info.context.deps)]
