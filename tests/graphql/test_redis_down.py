"""With Redis (ElastiCache) unreachable, browsing and carts still work from the database."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from app.container import Container
from app.main import create_app
from app.settings import Settings
from infra.local.seed import product_id
from tests.support.services import free_port

QUERY = "{ products(first: 100) { edges { node { sku offers { code } } } } offers { code } }"
ADD = """mutation($lines: [CartLineInput!]!) {
  cartLinesAdd(lines: $lines) { cart { lines { quantity } coupon { code applicable }
                                       cost { discount { amount } } } errors { code } } }"""
APPLY = """mutation { cartCouponApply(code: "WELCOME10") {
  cart { coupon { applicable } cost { discount { amount } } } errors { code } } }"""


async def test_catalog_and_carts_work_with_redis_down(
    settings: Settings, container: Container, new_customer: Callable[..., dict[str, str]]
) -> None:
    """``container`` migrated and seeded the run's database; this app shares it, not Redis."""
    dead = Container(
        settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    )
    customer = new_customer()
    app = create_app(dead)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            browse = (await client.post("/graphql", json={"query": QUERY})).json()
            add = (
                await client.post(
                    "/graphql",
                    json={
                        "query": ADD,
                        "variables": {
                            "lines": [{"productId": str(product_id("GRO-TEA-003")), "quantity": 2}]
                        },
                    },
                    headers=customer,
                )
            ).json()
            applied = (
                await client.post("/graphql", json={"query": APPLY}, headers=customer)
            ).json()
            ready = await client.get("/readyz")
    finally:
        await dead.aclose()
    assert "errors" not in browse, browse
    assert len(browse["data"]["products"]["edges"]) >= 24
    assert "WELCOME10" in {o["code"] for o in browse["data"]["offers"]}
    assert add["data"]["cartLinesAdd"]["errors"] == []
    # 2 × ₹289.00 = 57,800; WELCOME10 is 10 % → 5,780 (under the ₹200 cap)
    assert applied["data"]["cartCouponApply"]["cart"]["cost"]["discount"] == {"amount": 5_780}
    assert ready.status_code == 503 and ready.json()["checks"]["database"] == "ok"
