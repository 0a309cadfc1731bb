"""productUpsert/offerUpsert use cases against the real PostgreSQL: create, update, validation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.container import Container
from domain.errors import DomainError, ErrorCode
from domain.offers import OfferKind
from infra.local.seed import product_id
from resolvers import admin_catalog
from resolvers.deps import Deps
from tests.support.cleanup import switch_off_test_offers


@pytest.fixture(autouse=True)
async def _only_seeded_offers_stay_live(container: Container) -> AsyncIterator[None]:
    yield
    await switch_off_test_offers(container)


@pytest.fixture
def deps(container: Container) -> Deps:
    return container.deps


async def fails(change: Awaitable[object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await change
    return caught.value


def product_input(**changes: Any) -> dict[str, Any]:
    # inactive, so catalog tests that count active products never see it
    fields: dict[str, Any] = {
        "sku": f"ADM-{uuid.uuid4().hex[:10]}",
        "title": "  Admin test product ",
        "category": "test-admin",
        "price": 12_345,
        "gst_rate_bp": 1200,
        "stock": 3,
        "active": False,
    }
    fields.update(changes)
    return fields


def offer_input(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "code": f"adm{uuid.uuid4().hex[:10]}",
        "kind": "PERCENT",
        "percent_bp": 1500,
    }
    fields.update(changes)
    return fields


async def test_product_create_then_update(deps: Deps) -> None:
    created = await admin_catalog.product_upsert(deps, **product_input(image_url=" "))
    assert uuid.UUID(created.id)
    assert (created.title, created.image_url, created.description) == (
        "Admin test product",
        None,
        "",
    )
    assert await deps.products.get_many([created.id]) == [created]
    updated = await admin_catalog.product_upsert(
        deps,
        **product_input(
            id=created.id.upper(),
            sku=created.sku,
            price=99,
            stock=0,
            image_url="https://img.example/p.png",
        ),
    )
    assert (updated.id, updated.price, updated.stock) == (created.id, 99, 0)
    assert await deps.products.get_many([created.id]) == [updated]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"price": -1}, "price"),
        ({"stock": -1}, "stock"),
        ({"gst_rate_bp": 10_001}, "gstRateBp"),
        ({"sku": "  "}, "sku"),
        ({"sku": "S" * 65}, "sku"),
        ({"title": ""}, "title"),
        ({"category": " "}, "category"),
        ({"image_url": "ftp://x"}, "imageUrl"),
    ],
)
async def test_product_validation(deps: Deps, changes: dict[str, Any], field: str) -> None:
    err = await fails(admin_catalog.product_upsert(deps, **product_input(**changes)))
    assert (err.code, err.field) == (ErrorCode.INVALID_INPUT, [field])


async def test_product_sku_taken_and_unknown_ids(deps: Deps) -> None:
    err = await fails(admin_catalog.product_upsert(deps, **product_input(sku="APP-TEE-001")))
    assert (err.code, err.field) == (ErrorCode.INVALID_INPUT, ["sku"])
    for bad in (str(uuid.uuid4()), "nope"):
        err = await fails(admin_catalog.product_upsert(deps, **product_input(id=bad)))
        assert (err.code, err.field) == (ErrorCode.PRODUCT_NOT_FOUND, ["id"])


async def test_offer_create_then_update(deps: Deps) -> None:
    tee = str(product_id("APP-TEE-001"))
    created = await admin_catalog.offer_upsert(
        deps,
        **offer_input(
            max_discount=10_000,
            product_ids=[tee.upper(), f" {tee} "],
            categories=[" books "],
            starts_at=datetime.now(UTC) - timedelta(days=1),
        ),
    )
    assert created.code == created.code.strip().upper()
    assert (created.kind, created.product_ids, created.categories) == (
        OfferKind.PERCENT,
        (tee,),
        ("books",),
    )
    assert await deps.offers.get_by_codes([created.code.lower()]) == [created]
    updated = await admin_catalog.offer_upsert(
        deps, id=created.id, code=created.code, kind="FLAT", flat=5_000, usage_limit=10
    )
    assert (updated.id, updated.kind, updated.flat, updated.percent_bp) == (
        created.id,
        OfferKind.FLAT,
        5_000,
        None,
    )
    assert await deps.offers.get_many([created.id]) == [updated]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "FLAT", "percent_bp": None, "flat": -1}, "flat"),
        ({"percent_bp": 10_001}, "percentBp"),
        ({"percent_bp": -5}, "percentBp"),
        ({"max_discount": -1}, "maxDiscount"),
        ({"min_subtotal": -1}, "minSubtotal"),
        ({"kind": "BOGO"}, "kind"),
        ({"code": "  "}, "code"),
        ({"usage_limit": 0}, "usageLimit"),
        (
            {
                "starts_at": datetime(2025, 2, 1, tzinfo=UTC),
                "ends_at": datetime(2025, 2, 1, tzinfo=UTC),
            },
            "endsAt",
        ),
        ({"starts_at": datetime(2025, 2, 1)}, "startsAt"),  # naive on purpose
    ],
)
async def test_offer_validation(deps: Deps, changes: dict[str, Any], field: str) -> None:
    err = await fails(admin_catalog.offer_upsert(deps, **offer_input(**changes)))
    assert (err.code, err.field) == (ErrorCode.INVALID_INPUT, [field])


async def test_offer_code_taken_unknown_products_and_ids(deps: Deps) -> None:
    err = await fails(admin_catalog.offer_upsert(deps, **offer_input(code="welcome10")))
    assert (err.code, err.field) == (ErrorCode.INVALID_INPUT, ["code"])
    known = str(product_id("APP-TEE-001"))
    for bad in (str(uuid.uuid4()), "not-an-id"):
        err = await fails(admin_catalog.offer_upsert(deps, **offer_input(product_ids=[known, bad])))
        assert (err.code, err.field) == (ErrorCode.PRODUCT_NOT_FOUND, ["productIds", "1"])
    err = await fails(admin_catalog.offer_upsert(deps, **offer_input(id=str(uuid.uuid4()))))
    assert (err.code, err.field) == (ErrorCode.OFFER_NOT_FOUND, ["id"])
