"""productUpsert's stock on the fakes: on hand is set, what payment sessions hold stays held,
and ``expected_stock_on_hand`` reaches the repository."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest

from domain.catalog import validated_product
from domain.errors import DomainError, ErrorCode
from resolvers import admin_catalog
from tests.support.fakes import fake_deps

FORM: dict[str, Any] = {
    "sku": "FORM-1",
    "title": "Form",
    "category": "misc",
    "price": 100,
    "gst_rate_bp": 0,
}


async def refused(deps: Any, **changes: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await admin_catalog.product_upsert(deps, **(FORM | changes))
    return caught.value


async def test_a_save_keeps_the_holds_and_passes_the_expectation_through() -> None:
    product = validated_product(id=str(uuid.uuid4()), stock=5, **FORM)
    deps = fake_deps(products=[replace(product, stock=3)])  # sessions hold 2 of 5
    saved = await admin_catalog.product_upsert(
        deps, **(FORM | {"id": product.id, "stock": 5, "expected_stock_on_hand": 5})
    )
    assert (saved.stock, saved.stock_on_hand) == (3, 5)

    stale = await refused(deps, id=product.id, stock=6, expected_stock_on_hand=4)
    assert (stale.code, stale.field) == (ErrorCode.STOCK_CONFLICT, ["expectedStockOnHand"])
    below = await refused(deps, id=product.id, stock=1)
    assert (below.code, below.field) == (ErrorCode.STOCK_CONFLICT, ["stock"])
    assert await deps.products.get_many([product.id]) == [saved]
