"""Stock on hand apart from reservations, over GraphQL (issue 9 defect 5, API.md "Stock"):
saving a product form never creates or destroys units payment sessions hold;
``expectedStockOnHand`` makes a save conditional; ``stockOnHand`` is for admins only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from infra.local.razorpay_sandbox.control_client import SandboxControl
from tests.support.payments_flow import (
    PRODUCT_UPSERT,
    open_session,
    own_product,
    pay_on_sandbox,
    retire_product,
)
from tests.support.shop import CANCEL, data, verify
from tests.support.stack import GraphQLClient

Headers = dict[str, str]
LEVELS = "query($id: ID!) { product(id: $id) { stock stockOnHand } }"
SAVE = """mutation($input: ProductInput!) { productUpsert(input: $input) {
  product { id stock stockOnHand } errors { code field message } } }"""


@pytest.fixture
def admin(new_customer: Callable[..., Headers]) -> Headers:
    return new_customer("admin")


@pytest.fixture
def customer(new_customer: Callable[..., Headers]) -> Headers:
    return new_customer()


@pytest.fixture
async def five(
    gql: GraphQLClient, admin: Headers, sandbox: SandboxControl
) -> AsyncIterator[dict[str, Any]]:
    """A product of the test's own with 5 units on hand, switched off afterwards."""
    product = await own_product(gql, admin, stock=5)
    yield product
    await retire_product(gql, admin, product)


async def levels(gql: GraphQLClient, admin: Headers, product: dict[str, Any]) -> dict[str, int]:
    """What an admin sees: ``{"stock": available, "stockOnHand": on hand}``."""
    found: dict[str, int] = (await data(gql, LEVELS, admin, id=product["id"]))["product"]
    return found


async def save(
    gql: GraphQLClient, admin: Headers, product: dict[str, Any], **changes: Any
) -> dict[str, Any]:
    """The admin's product form saved with ``changes`` (``stock``, ``expectedStockOnHand``)."""
    answer: dict[str, Any] = (
        await data(gql, SAVE, admin, input=product["spec"] | {"id": product["id"], **changes})
    )["productUpsert"]
    return answer


async def test_defect_5_saving_the_form_while_a_session_holds_units_creates_none(
    gql: GraphQLClient, admin: Headers, customer: Headers, five: dict[str, Any]
) -> None:
    """Reserve 2 of 5 → the admin saves the form (stock 5) → cancel: 5 units, not 7."""
    session = await open_session(gql, customer, five["id"], quantity=2)
    assert await levels(gql, admin, five) == {"stock": 3, "stockOnHand": 5}

    saved = await save(gql, admin, five, stock=5)
    assert saved["errors"] == []
    assert saved["product"] | {"id": None} == {"id": None, "stock": 3, "stockOnHand": 5}

    cancelled = (await data(gql, CANCEL, customer, id=session["id"]))["paymentSessionCancel"]
    assert cancelled["paymentSession"]["status"] == "CANCELLED"
    assert await levels(gql, admin, five) == {"stock": 5, "stockOnHand": 5}


async def test_a_paid_session_takes_its_units_off_the_shelf_once(
    gql: GraphQLClient,
    admin: Headers,
    customer: Headers,
    five: dict[str, Any],
    sandbox: SandboxControl,
) -> None:
    session, paid, _ = await pay_on_sandbox(gql, customer, sandbox, five["id"], quantity=2)
    assert await levels(gql, admin, five) == {"stock": 3, "stockOnHand": 5}
    for _ in range(2):
        verified = await verify(gql, customer, session["id"], paid)
        assert verified["paymentSession"]["status"] == "PAID", verified
    assert await levels(gql, admin, five) == {"stock": 3, "stockOnHand": 3}


async def test_a_save_from_a_stale_form_fails_with_stock_conflict(
    gql: GraphQLClient, admin: Headers, new_customer: Callable[..., Headers], five: dict[str, Any]
) -> None:
    read = (await levels(gql, admin, five))["stockOnHand"]  # the first admin opens the form
    other = new_customer("admin")
    assert (await save(gql, other, five, stock=8, expectedStockOnHand=read))["errors"] == []

    stale = await save(gql, admin, five, stock=read + 1, expectedStockOnHand=read)
    assert stale["product"] is None
    [error] = stale["errors"]
    assert (error["code"], error["field"]) == ("STOCK_CONFLICT", ["expectedStockOnHand"])
    assert "8" in error["message"], error
    assert await levels(gql, admin, five) == {"stock": 8, "stockOnHand": 8}

    fresh = await save(gql, admin, five, stock=9, expectedStockOnHand=8)
    assert fresh["errors"] == [] and fresh["product"]["stockOnHand"] == 9


async def test_on_hand_below_what_open_sessions_hold_is_refused(
    gql: GraphQLClient, admin: Headers, customer: Headers, five: dict[str, Any]
) -> None:
    await open_session(gql, customer, five["id"], quantity=2)
    refused = await save(gql, admin, five, stock=1)
    assert refused["product"] is None
    [error] = refused["errors"]
    assert (error["code"], error["field"]) == ("STOCK_CONFLICT", ["stock"])
    assert "hold 2 units" in error["message"], error
    assert await levels(gql, admin, five) == {"stock": 3, "stockOnHand": 5}

    exactly = await save(gql, admin, five, stock=2)
    assert exactly["errors"] == []
    assert exactly["product"] | {"id": None} == {"id": None, "stock": 0, "stockOnHand": 2}


async def test_stock_on_hand_is_for_admins_only(
    gql: GraphQLClient, admin: Headers, customer: Headers, five: dict[str, Any]
) -> None:
    for who, code in ((customer, "FORBIDDEN"), ({}, "UNAUTHENTICATED")):
        body: dict[str, Any] = await gql(LEVELS, {"id": five["id"]}, headers=who)
        assert body["data"] == {"product": {"stock": 5, "stockOnHand": None}}, body
        [error] = body["errors"]
        assert (error["extensions"]["code"], error["path"]) == (
            code,
            ["product", "stockOnHand"],
        )
    public = await gql("query($id: ID!) { product(id: $id) { stock } }", {"id": five["id"]})
    assert "errors" not in public and public["data"] == {"product": {"stock": 5}}
    assert await levels(gql, admin, five) == {"stock": 5, "stockOnHand": 5}


async def test_a_new_product_starts_with_nothing_held(gql: GraphQLClient, admin: Headers) -> None:
    spec = {
        "sku": "T-STK-NEW-1",
        "title": "New",
        "category": "test-stock",
        "price": 100,
        "gstRateBp": 0,
        "stock": 4,
        "active": False,
    }
    made = (await data(gql, SAVE, admin, input=spec | {"expectedStockOnHand": 0}))["productUpsert"]
    assert made["errors"] == []
    assert (made["product"]["stock"], made["product"]["stockOnHand"]) == (4, 4)
    negative = await data(
        gql, PRODUCT_UPSERT, admin, input=spec | {"sku": "T-STK-NEW-2", "stock": -1}
    )
    assert negative["productUpsert"]["errors"][0]["code"] == "INVALID_INPUT"
