"""Ports: what the use cases need from the outside world, named for the capability.

Adapters in datasources/ implement these; app/ wires them. Results of ``get_many`` come back in
key order, with None where a key is missing (the DataLoader contract).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.catalog import Product
from domain.offers import Offer


@dataclass(frozen=True, slots=True)
class ProductQuery:
    first: int
    after_sku: str | None = None
    search: str | None = None
    category: str | None = None


class ProductRepository(Protocol):
    async def get_many(self, ids: Sequence[str]) -> list[Product | None]: ...

    async def list_page(self, query: ProductQuery) -> list[Product]:
        """Products ordered by sku after ``after_sku``; at most ``query.first`` of them."""
        ...


class OfferRepository(Protocol):
    async def list_live(self, *, now: datetime) -> list[Offer]:
        """Active offers whose window contains ``now``, ordered by code."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...
