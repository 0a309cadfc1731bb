"""Admin use cases: create and change products and offers (``productUpsert``, ``offerUpsert``).

Without ``id`` a new entity is created; with one, that entity is replaced (every field is
taken from the input, like the GraphQL input types). An ``id`` that is malformed or names
nothing raises ``PRODUCT_NOT_FOUND``/``OFFER_NOT_FOUND`` with ``field=["id"]``. Invalid input
raises :class:`~domain.errors.InvalidInput` with ``field`` naming the GraphQL input field
(``["price"]``, ``["percentBp"]``, ``["endsAt"]``, ``["code"]`` for a code another offer has,
``["productIds", "i"]`` for an unknown product...). The role check (ADMIN) is the caller's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Unpack

from domain.catalog import Product, parse_id, validated_product
from domain.errors import ErrorCode, NotFound
from domain.offers import Offer, OfferFields
from resolvers.deps import Deps


def _id_or_new(raw: str | None, *, code: ErrorCode, what: str) -> tuple[str, bool]:
    """(canonical id, is it new?)."""
    if raw is None:
        return str(uuid.uuid4()), True
    parsed = parse_id(raw)
    if parsed is None:
        raise NotFound(f"no such {what}", code=code, field=["id"])
    return parsed, False


async def product_upsert(
    deps: Deps,
    *,
    id: str | None = None,
    sku: str,
    title: str,
    category: str,
    price: int,
    gst_rate_bp: int,
    stock: int,
    description: str | None = None,
    image_url: str | None = None,
    active: bool = True,
    expected_stock_on_hand: int | None = None,
) -> Product:
    """``productUpsert``: amounts in paise, GST in basis points. Returns the stored product.

    ``stock`` sets the units on hand; units held by open payment sessions stay held, so a
    save never creates or destroys them. With ``expected_stock_on_hand`` (what the form
    read) the save is made only if on hand is still that; on hand below what sessions hold
    is refused too. Both raise ``STOCK_CONFLICT`` (:func:`domain.catalog.check_stock_on_hand`).
    """
    product_id, new = _id_or_new(id, code=ErrorCode.PRODUCT_NOT_FOUND, what="product")
    product = validated_product(
        id=product_id,
        sku=sku,
        title=title,
        category=category,
        price=price,
        gst_rate_bp=gst_rate_bp,
        stock=stock,
        description=description,
        image_url=image_url,
        active=active,
    )
    if not new and (await deps.products.get_many([product_id]))[0] is None:
        raise NotFound("no such product", code=ErrorCode.PRODUCT_NOT_FOUND, field=["id"])
    stored = await deps.products.upsert(product, expected_on_hand=expected_stock_on_hand)
    await catalog_changed(deps)
    return stored


async def _canonical_product_ids(deps: Deps, raw_ids: Sequence[str]) -> list[str]:
    parsed = [parse_id(raw) for raw in raw_ids]
    known = [p for p in dict.fromkeys(parsed) if p is not None]
    found = dict(zip(known, await deps.products.get_many(known), strict=True)) if known else {}
    for index, product_id in enumerate(parsed):
        if product_id is None or found.get(product_id) is None:
            raise NotFound(
                "no such product",
                code=ErrorCode.PRODUCT_NOT_FOUND,
                field=["productIds", str(index)],
            )
    return [p for p in parsed if p is not None]


async def offer_upsert(
    deps: Deps, *, id: str | None = None, **fields: Unpack[OfferFields]
) -> Offer:
    """``offerUpsert``: validated by :meth:`domain.offers.Offer.validated` (no negative amounts,
    percent within 0–100 %, ``endsAt`` after ``startsAt``, ...); product ids must name products
    (inactive ones too); categories are stripped. Cached offers are invalidated by the
    repository. Returns the stored offer.
    """
    offer_id, new = _id_or_new(id, code=ErrorCode.OFFER_NOT_FOUND, what="offer")
    product_ids, categories = fields.get("product_ids"), fields.get("categories")
    if categories is not None:
        fields["categories"] = [c.strip() for c in categories]
    offer = Offer.validated(id=offer_id, **fields)
    if product_ids:
        canonical = await _canonical_product_ids(deps, product_ids)
        offer = replace(offer, product_ids=tuple(dict.fromkeys(canonical)))
    if not new and (await deps.offers.get_many([offer_id]))[0] is None:
        raise NotFound("no such offer", code=ErrorCode.OFFER_NOT_FOUND, field=["id"])
    stored = await deps.offers.upsert(offer)
    await catalog_changed(deps)
    return stored


async def catalog_changed(deps: Deps) -> None:
    """Cached catalog answers are stale from now on, in every instance (never raises)."""
    if deps.catalog_version is not None:
        await deps.catalog_version.bump()
