"""Typed per-request context. DataLoaders are built here, per request, never at module level."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from strawberry.dataloader import DataLoader

from domain.catalog import Product
from domain.errors import Unauthenticated
from domain.identity import Principal
from domain.offers import Offer
from domain.payment_ports import TimelineEntry
from domain.payment_session import PaymentSession
from domain.refunds import Refund
from resolvers import catalog, payments
from resolvers.deps import Deps


@dataclass(slots=True)
class Loaders:
    """Named ``<entity>_by_<key>``; each returns results in key order."""

    product_by_id: DataLoader[str, Product | None]
    offers_by_product: DataLoader[Product, list[Offer]]
    refunds_by_session: DataLoader[str, list[Refund]]
    timeline_by_session: DataLoader[str, list[TimelineEntry]]
    prefill_by_session: DataLoader[PaymentSession, payments.Prefill]


def build_loaders(deps: Deps, principal: Principal | None = None) -> Loaders:
    async def load_products(ids: list[str]) -> list[Product | None]:
        return await catalog.products_by_id(deps, ids)

    async def load_offers(products: list[Product]) -> list[list[Offer]]:
        return await catalog.offers_for_products(deps, products)

    def product_key(product: Product) -> Any:
        return product.id

    async def load_refunds(session_ids: list[str]) -> list[list[Refund]]:
        return await deps.payments.refunds_many(session_ids)

    async def load_timelines(session_ids: list[str]) -> list[list[TimelineEntry]]:
        return list(await asyncio.gather(*(payments.timeline(deps, i) for i in session_ids)))

    async def load_prefills(sessions: list[PaymentSession]) -> list[payments.Prefill]:
        return list(
            await asyncio.gather(
                *(payments.prefill(deps, principal=principal, session=s) for s in sessions)
            )
        )

    def session_key(session: PaymentSession) -> Any:
        return session.id

    return Loaders(
        product_by_id=DataLoader(load_fn=load_products),
        offers_by_product=DataLoader(load_fn=load_offers, cache_key_fn=product_key),
        refunds_by_session=DataLoader(load_fn=load_refunds),
        timeline_by_session=DataLoader(load_fn=load_timelines),
        prefill_by_session=DataLoader(load_fn=load_prefills, cache_key_fn=session_key),
    )


@dataclass(slots=True, kw_only=True)
class Context:
    request: Request | None
    response: Response | None
    deps: Deps
    request_id: str
    principal: Principal | None = None
    auth_error: Unauthenticated | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = build_loaders(self.deps, self.principal)
