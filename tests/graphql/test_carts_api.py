"""Carts and admin catalog over GraphQL with real Cognito tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.container import Container
from infra.local.seed import PRODUCTS, product_id
from tests.support.cleanup import switch_off_test_offers
from tests.support.stack import GraphQLClient

CART = """
fragment M on Money { amount }
fragment C on Cart {
  id version
  lines { id quantity product { sku } unitPrice { ...M } subtotal { ...M } discount { ...M }
          tax { ...M } total { ...M } }
  coupon { code applicable reason discount { ...M } shortfall { ...M } }
  cost { subtotal { ...M } discount { ...M } tax { ...M } total { ...M } }
}
"""
ADD = (
    CART
    + """
mutation($lines: [CartLineInput!]!) {
  cartLinesAdd(lines: $lines) { cart { ...C } errors { code field message } }
}"""
)
UPDATE = (
    CART
    + """
mutation($lines: [CartLineUpdateInput!]!) {
  cartLinesUpdate(lines: $lines) { cart { ...C } errors { code field message } }
}"""
)
REMOVE = (
    CART
    + """
mutation($ids: [ID!]!) { cartLinesRemove(lineIds: $ids) { cart { ...C } errors { code field } } }
"""
)
APPLY = (
    CART
    + """
mutation($code: String!) { cartCouponApply(code: $code) { cart { ...C } errors { code field } } }
"""
)
GET = CART + "query { cart { ...C } }"

Headers = dict[str, str]


def pid(sku: str) -> str:
    return str(product_id(sku))


async def run(gql: GraphQLClient, query: str, headers: Headers, **variables: Any) -> Any:
    body = await gql(query, variables, headers=headers)
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture
async def customer(new_customer: Callable[..., Headers]) -> Headers:
    return new_customer()


@pytest.fixture(autouse=True)
async def _offers_back_to_seed(container: Container) -> AsyncIterator[None]:
    yield
    await switch_off_test_offers(container)


async def test_cart_needs_a_signed_in_customer(gql: GraphQLClient) -> None:
    body = await gql(GET)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"  # type: ignore[index]
    body = await gql(ADD, {"lines": [{"productId": pid("GRO-DAL-002"), "quantity": 1}]})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"  # type: ignore[index]


async def test_mixed_gst_cart_with_a_capped_category_coupon_is_exact(
    gql: GraphQLClient, customer: Headers
) -> None:
    lines = [
        {"productId": pid("ELE-EAR-001"), "quantity": 2},  # ₹2,999.00 @ 18 %
        {"productId": pid("ELE-MON-004"), "quantity": 1},  # ₹28,999.00 @ 28 %
        {"productId": pid("GRO-DAL-002"), "quantity": 3},  # ₹179.00 @ 0 %
        {"productId": pid("APP-TEE-001"), "quantity": 1},  # ₹499.00 @ 5 %
        {"productId": pid("HOM-MUG-003"), "quantity": 2},  # ₹599.00 @ 12 %
    ]
    await run(gql, ADD, customer, lines=lines)
    cart = (await run(gql, APPLY, customer, code="gadget5"))["cartCouponApply"]["cart"]
    # GADGET5: 5 % of electronics, capped at ₹1,000, for electronics of ₹5,000 or more.
    # E = 599,800 + 2,899,900 = 3,499,700; 5 % = floor(174,985) → capped at 100,000.
    # Split 100,000 by subtotal: earbuds floor(100,000 × 599,800 / 3,499,700) = 17,138
    # (remainder 2,141,400), monitor 82,861 (remainder 1,358,300); the leftover paisa goes to
    # the larger remainder: earbuds 17,139, monitor 82,861.
    # Tax, half up: earbuds (599,800 − 17,139) × 18 % = 104,878.98 → 104,879
    #               monitor (2,899,900 − 82,861) × 28 % = 788,770.92 → 788,771
    #               dal 53,700 × 0 % = 0; tee 49,900 × 5 % = 2,495; mugs 119,800 × 12 % = 14,376
    # subtotal 3,723,100 − discount 100,000 + tax 910,521 = total 4,533,621
    by_sku = {line["product"]["sku"]: line for line in cart["lines"]}
    expect = {
        "ELE-EAR-001": (599_800, 17_139, 104_879, 687_540),
        "ELE-MON-004": (2_899_900, 82_861, 788_771, 3_605_810),
        "GRO-DAL-002": (53_700, 0, 0, 53_700),
        "APP-TEE-001": (49_900, 0, 2_495, 52_395),
        "HOM-MUG-003": (119_800, 0, 14_376, 134_176),
    }
    for sku, (subtotal, discount, tax, total) in expect.items():
        line = by_sku[sku]
        got = tuple(line[k]["amount"] for k in ("subtotal", "discount", "tax", "total"))
        assert got == (subtotal, discount, tax, total), sku
    assert {k: v["amount"] for k, v in cart["cost"].items()} == {
        "subtotal": 3_723_100,
        "discount": 100_000,
        "tax": 910_521,
        "total": 4_533_621,
    }
    assert cart["coupon"] == {
        "code": "GADGET5",
        "applicable": True,
        "reason": None,
        "discount": {"amount": 100_000},
        "shortfall": None,
    }
    assert [line["product"]["sku"] for line in cart["lines"]] == list(expect)  # first-added order


async def test_coupon_below_minimum_stays_with_reason_and_shortfall(
    gql: GraphQLClient, customer: Headers
) -> None:
    await run(gql, ADD, customer, lines=[{"productId": pid("GRO-DAL-002"), "quantity": 2}])
    cart = (await run(gql, APPLY, customer, code="FLAT150"))["cartCouponApply"]["cart"]
    # FLAT150 needs ₹999.00; the cart has 2 × ₹179.00 = ₹358.00 → ₹641.00 short
    assert cart["coupon"] == {
        "code": "FLAT150",
        "applicable": False,
        "reason": "MIN_SUBTOTAL_NOT_MET",
        "discount": {"amount": 0},
        "shortfall": {"amount": 64_100},
    }
    assert cart["cost"]["discount"] == {"amount": 0}
    unknown = (await run(gql, APPLY, customer, code="NOPE"))["cartCouponApply"]["cart"]
    assert unknown["coupon"]["reason"] == "NOT_FOUND"
    expired = (await run(gql, APPLY, customer, code="MONSOON25"))["cartCouponApply"]["cart"]
    assert expired["coupon"]["applicable"] is False


async def test_merge_update_remove_and_typed_errors(gql: GraphQLClient, customer: Headers) -> None:
    dal = pid("GRO-DAL-002")
    first = await run(gql, ADD, customer, lines=[{"productId": dal, "quantity": 2}])
    merged = await run(gql, ADD, customer, lines=[{"productId": dal, "quantity": 3}])
    cart = merged["cartLinesAdd"]["cart"]
    assert len(cart["lines"]) == 1 and cart["lines"][0]["quantity"] == 5
    assert cart["version"] > first["cartLinesAdd"]["cart"]["version"]
    line_id = cart["lines"][0]["id"]
    bad = await run(gql, UPDATE, customer, lines=[{"lineId": line_id, "quantity": 101}])
    assert bad["cartLinesUpdate"]["errors"][0]["code"] == "QUANTITY_LIMIT"
    assert bad["cartLinesUpdate"]["cart"] is None
    unknown = await run(gql, ADD, customer, lines=[{"productId": "nope", "quantity": 1}])
    assert unknown["cartLinesAdd"]["errors"][0]["code"] == "PRODUCT_NOT_FOUND"
    stock = await run(gql, ADD, customer, lines=[{"productId": pid("ELE-CAM-007"), "quantity": 2}])
    assert stock["cartLinesAdd"]["errors"][0]["code"] == "OUT_OF_STOCK"
    gone = await run(gql, REMOVE, customer, ids=["00000000-0000-0000-0000-000000000000"])
    assert gone["cartLinesRemove"]["errors"][0]["code"] == "LINE_NOT_FOUND"
    zero = await run(gql, UPDATE, customer, lines=[{"lineId": line_id, "quantity": 0}])
    assert zero["cartLinesUpdate"]["cart"]["lines"] == []
    after = (await run(gql, GET, customer))["cart"]
    assert after["lines"] == [] and after["version"] == zero["cartLinesUpdate"]["cart"]["version"]


async def test_parallel_adds_from_two_devices_keep_every_line(
    gql: GraphQLClient, customer: Headers
) -> None:
    skus = [p.sku for p in PRODUCTS if p.stock >= 5][:20]
    results = await asyncio.gather(
        *(run(gql, ADD, customer, lines=[{"productId": pid(s), "quantity": 1}]) for s in skus)
    )
    assert all(not r["cartLinesAdd"]["errors"] for r in results)
    cart = (await run(gql, GET, customer))["cart"]
    assert sorted(line["product"]["sku"] for line in cart["lines"]) == sorted(skus)
    assert cart["version"] == 20


async def test_customers_never_see_each_others_carts(
    gql: GraphQLClient, new_customer: Callable[..., Headers]
) -> None:
    one, two = new_customer(), new_customer()
    await run(gql, ADD, one, lines=[{"productId": pid("BOK-NOV-001"), "quantity": 1}])
    other = (await run(gql, GET, two))["cart"]
    assert other["lines"] == []
    line_of_one = (await run(gql, GET, one))["cart"]["lines"][0]["id"]
    attempt = await run(gql, UPDATE, two, lines=[{"lineId": line_of_one, "quantity": 9}])
    assert attempt["cartLinesUpdate"]["errors"][0]["code"] == "LINE_NOT_FOUND"
    assert (await run(gql, GET, one))["cart"]["lines"][0]["quantity"] == 1


PRODUCT_UPSERT = """
mutation($input: ProductInput!) {
  productUpsert(input: $input) { product { id sku price { amount } } errors { code field } }
}"""
OFFER_UPSERT = """
mutation($input: OfferInput!) {
  offerUpsert(input: $input) { offer { id code percentBp } errors { code field } }
}"""


async def test_admin_only_mutations_refuse_customers_with_forbidden(
    gql: GraphQLClient, customer: Headers, new_customer: Callable[..., Headers]
) -> None:
    product = {
        "sku": "T-FORBID-1",
        "title": "x",
        "category": "misc",
        "price": 100,
        "gstRateBp": 0,
        "stock": 1,
        "active": False,
    }
    refused = await gql(PRODUCT_UPSERT, {"input": product}, headers=customer)
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # type: ignore[index]
    anonymous = await gql(PRODUCT_UPSERT, {"input": product})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"  # type: ignore[index]
    admin = new_customer("admin")
    made = (await run(gql, PRODUCT_UPSERT, admin, input=product))["productUpsert"]
    assert made["errors"] == [] and made["product"]["price"] == {"amount": 100}
    negative = await run(gql, PRODUCT_UPSERT, admin, input=product | {"price": -1, "sku": "T-F-2"})
    assert negative["productUpsert"]["errors"][0]["code"] == "INVALID_INPUT"


async def test_offer_upsert_validates_and_shows_up_live(
    gql: GraphQLClient, new_customer: Callable[..., Headers]
) -> None:
    admin = new_customer("admin")
    base = {"code": "TESTPCT", "kind": "PERCENT", "percentBp": 1500, "categories": ["books"]}
    for bad in (
        {"percentBp": 10_001},
        {"startsAt": "2026-12-01T00:00:00Z", "endsAt": "2026-11-01T00:00:00Z"},
    ):
        answer = await run(gql, OFFER_UPSERT, admin, input=base | bad)
        assert answer["offerUpsert"]["errors"][0]["code"] == "INVALID_INPUT", bad
    made = (await run(gql, OFFER_UPSERT, admin, input=base))["offerUpsert"]
    assert made["errors"] == [] and made["offer"]["percentBp"] == 1500
    live = await gql("{ offers { code } }")
    assert "TESTPCT" in {o["code"] for o in live["data"]["offers"]}  # type: ignore[index]
