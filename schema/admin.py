"""Admin catalog mutations: productUpsert and offerUpsert (Cognito group admin)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from domain.identity import Role
from domain.offers import OfferKind
from resolvers import admin_catalog
from schema.catalog import Offer, Product
from schema.context import Context
from schema.permissions import auth_mutation
from schema.types import UserError, payload_of


@strawberry.input(description="Without id: create. Amounts in paise, rates in basis points.")
class ProductInput:
    id: strawberry.ID | None = None
    sku: str
    title: str
    description: str | None = None
    category: str
    price: int
    gst_rate_bp: int
    stock: int = strawberry.field(
        description="Units on hand. Units held by open payment sessions stay held; on hand"
        " below them fails with STOCK_CONFLICT."
    )
    image_url: str | None = None
    active: bool | None = True
    expected_stock_on_hand: int | None = strawberry.field(
        default=None,
        description="The stockOnHand the form was read with: if on hand changed since,"
        " the save fails with STOCK_CONFLICT.",
    )


@strawberry.input(description="Without id: create. Amounts in paise, percentages in basis points.")
class OfferInput:
    id: strawberry.ID | None = None
    code: str
    description: str | None = None
    kind: OfferKind
    percent_bp: int | None = None
    flat: int | None = None
    max_discount: int | None = None
    min_subtotal: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    product_ids: list[strawberry.ID] | None = None
    categories: list[str] | None = None
    usage_limit: int | None = None
    per_customer_limit: int | None = None
    active: bool | None = True


@strawberry.type
class ProductPayload:
    product: Product | None = None
    errors: list[UserError]


@strawberry.type
class OfferPayload:
    offer: Offer | None = None
    errors: list[UserError]


@strawberry.type
class AdminCatalogMutation:
    @auth_mutation(requires=Role.ADMIN)
    async def product_upsert(
        self, info: Info[Context, None], input: ProductInput
    ) -> ProductPayload:
        return await payload_of(
            ProductPayload,
            admin_catalog.product_upsert(
                info.context.deps,
                id=str(input.id) if input.id is not None else None,
                sku=input.sku,
                title=input.title,
                description=input.description,
                category=input.category,
                price=input.price,
                gst_rate_bp=input.gst_rate_bp,
                stock=input.stock,
                image_url=input.image_url,
                active=input.active is not False,
                expected_stock_on_hand=input.expected_stock_on_hand,
            ),
            lambda product: ProductPayload(product=Product.from_domain(product), errors=[]),
        )

    @auth_mutation(requires=Role.ADMIN)
    async def offer_upsert(self, info: Info[Context, None], input: OfferInput) -> OfferPayload:
        return await payload_of(
            OfferPayload,
            admin_catalog.offer_upsert(
                info.context.deps,
                id=str(input.id) if input.id is not None else None,
                code=input.code,
                kind=input.kind,
                description=input.description,
                percent_bp=input.percent_bp,
                flat=input.flat,
                max_discount=input.max_discount,
                min_subtotal=input.min_subtotal,
                starts_at=input.starts_at,
                ends_at=input.ends_at,
                product_ids=[str(p) for p in input.product_ids] if input.product_ids else None,
                categories=input.categories,
                usage_limit=input.usage_limit,
                per_customer_limit=input.per_customer_limit,
                active=input.active is not False,
            ),
            lambda offer: OfferPayload(offer=Offer.from_domain(offer), errors=[]),
        )
