"""A storefront's moves over GraphQL, for payment tests: fill a cart, check out, verify."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from infra.local.seed import product_id
from tests.support.stack import RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET, GraphQLClient

SESSION_FIELDS = """
  id status amount { amount } cost { subtotal { amount } discount { amount } tax { amount }
  total { amount } } couponCode razorpayOrderId razorpayPaymentId refundedAmount { amount }
  lines { sku quantity total { amount } } refunds { amount { amount } status }
  checkout { keyId orderId amount currency name description callbackUrl prefillEmail }
  timeline { at type source detail }
"""
ADD = """mutation($lines: [CartLineInput!]!) {
  cartLinesAdd(lines: $lines) { cart { version cost { total { amount } } } errors { code } } }"""
APPLY = """mutation($code: String!) { cartCouponApply(code: $code) {
  cart { version coupon { applicable reason } } errors { code } } }"""
CREATE = (
    "mutation($input: PaymentSessionCreateInput!) { paymentSessionCreate(input: $input) {"
    f" paymentSession {{ {SESSION_FIELDS} }} errors {{ code field message }} }} }}"
)
VERIFY = (
    "mutation($input: PaymentSessionVerifyInput!) { paymentSessionVerify(input: $input) {"
    f" paymentSession {{ {SESSION_FIELDS} }} errors {{ code field message }} }} }}"
)
CANCEL = (
    "mutation($id: ID!) { paymentSessionCancel(id: $id) {"
    f" paymentSession {{ {SESSION_FIELDS} }} errors {{ code message }} }} }}"
)
GET = f"query($id: ID!) {{ paymentSession(id: $id) {{ {SESSION_FIELDS} }} }}"
CART = "{ cart { version lines { product { sku } quantity } cost { total { amount } } } }"

Headers = dict[str, str]


async def data(gql: GraphQLClient, query: str, headers: Headers, **variables: Any) -> Any:
    body = await gql(query, variables, headers=headers)
    assert "errors" not in body, body
    return body["data"]


async def fill_cart(
    gql: GraphQLClient, customer: Headers, items: dict[str, int], coupon: str | None = None
) -> dict[str, Any]:
    lines = [{"productId": str(product_id(sku)), "quantity": q} for sku, q in items.items()]
    added = (await data(gql, ADD, customer, lines=lines))["cartLinesAdd"]
    assert added["errors"] == [], added
    if coupon:
        applied = (await data(gql, APPLY, customer, code=coupon))["cartCouponApply"]
        assert applied["errors"] == [], applied
    cart: dict[str, Any] = (await data(gql, CART, customer))["cart"]
    return cart


async def create_session(
    gql: GraphQLClient, customer: Headers, *, key: str | None = None, **extra: Any
) -> dict[str, Any]:
    key = key or f"key-{secrets.token_hex(8)}"
    answer: dict[str, Any] = (
        await data(gql, CREATE, customer, input={"idempotencyKey": key, **extra})
    )["paymentSessionCreate"]
    return answer


async def verify(
    gql: GraphQLClient, customer: Headers, session_id: str, paid: dict[str, str]
) -> dict[str, Any]:
    answer: dict[str, Any] = (
        await data(
            gql,
            VERIFY,
            customer,
            input={
                "paymentSessionId": session_id,
                "razorpayOrderId": paid["razorpay_order_id"],
                "razorpayPaymentId": paid["razorpay_payment_id"],
                "razorpaySignature": paid["razorpay_signature"],
            },
        )
    )["paymentSessionVerify"]
    return answer


async def razorpay_order(base_url: str, order_id: str) -> dict[str, Any]:
    """The order as Razorpay (the sandbox) knows it."""
    async with httpx.AsyncClient(auth=(RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET)) as client:
        order: dict[str, Any] = (await client.get(f"{base_url}/v1/orders/{order_id}")).json()
    return order
