"""Browsing the catalog through GraphQL: products, pagination, search, offers, Money."""

from __future__ import annotations

from typing import Any

from infra.local.seed import OFFERS, PRODUCTS, product_id
from tests.support.stack import GraphQLClient

PRODUCTS_QUERY = """
query($first: Int, $after: String, $search: String, $category: String) {
  products(first: $first, after: $after, search: $search, category: $category) {
    edges { cursor node { id sku title category gstRateBp stock
                          price { amount currency formatted } offers { code } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def products(gql: GraphQLClient, **variables: Any) -> dict[str, Any]:
    body = await gql(PRODUCTS_QUERY, variables)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]  # type: ignore[assignment]
    return data["products"]


async def test_pages_walk_the_whole_catalog_in_sku_order(gql: GraphQLClient) -> None:
    seen: list[str] = []
    after = None
    while True:
        page = await products(gql, first=7, after=after)
        seen += [e["node"]["sku"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == sorted(p.sku for p in PRODUCTS)


async def test_money_is_paise_with_indian_formatting(gql: GraphQLClient) -> None:
    page = await products(gql, search="4K Monitor")
    [edge] = page["edges"]
    assert edge["node"]["price"] == {
        "amount": 2_899_900,
        "currency": "INR",
        "formatted": "₹28,999.00",
    }
    assert edge["node"]["gstRateBp"] == 2800


async def test_search_is_case_insensitive_over_title_description_and_sku(
    gql: GraphQLClient,
) -> None:
    by_title = await products(gql, search="EARBUDS")
    by_sku = await products(gql, search="ele-pwr")
    by_description = await products(gql, search="khadi")
    assert [e["node"]["sku"] for e in by_title["edges"]] == ["ELE-EAR-001"]
    assert [e["node"]["sku"] for e in by_sku["edges"]] == ["ELE-PWR-002"]
    assert [e["node"]["sku"] for e in by_description["edges"]] == ["APP-KRT-003"]


async def test_search_treats_like_wildcards_as_text(gql: GraphQLClient) -> None:
    assert (await products(gql, search="%"))["edges"] == []
    assert (await products(gql, search="_"))["edges"] == []


async def test_category_filter_combines_with_pagination(gql: GraphQLClient) -> None:
    expected = sorted(p.sku for p in PRODUCTS if p.category == "books")
    first = await products(gql, first=2, category="books")
    rest = await products(gql, first=10, category="books", after=first["pageInfo"]["endCursor"])
    got = [e["node"]["sku"] for e in first["edges"] + rest["edges"]]
    assert got == expected
    assert first["pageInfo"]["hasNextPage"] is True
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["pageInfo"]["hasPreviousPage"] is True


async def test_page_size_above_100_is_a_clear_error(gql: GraphQLClient) -> None:
    body = await gql(PRODUCTS_QUERY, {"first": 101})
    [error] = body["errors"]  # type: ignore[misc]
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert error["extensions"]["field"] == ["first"]
    assert "at most 100" in error["message"]


async def test_negative_page_size_and_bad_cursor_are_invalid_input(gql: GraphQLClient) -> None:
    for variables in ({"first": -1}, {"after": "not-a-cursor!"}):
        body = await gql(PRODUCTS_QUERY, variables)
        [error] = body["errors"]  # type: ignore[misc]
        assert error["extensions"]["code"] == "INVALID_INPUT", variables


async def test_product_by_id_and_unknown_or_malformed_ids_answer_null(gql: GraphQLClient) -> None:
    query = "query($id: ID!) { product(id: $id) { sku title } }"
    known = await gql(query, {"id": str(product_id("BOK-NOV-001"))})
    assert known["data"] == {
        "product": {"sku": "BOK-NOV-001", "title": "The Guide (R. K. Narayan)"}
    }
    for bad in ("00000000-0000-0000-0000-000000000000", "nope", "", "'; DROP TABLE products;--"):
        body = await gql(query, {"id": bad})
        assert body["data"] == {"product": None}, bad
        assert "errors" not in body


async def test_offers_lists_live_offers_only(gql: GraphQLClient) -> None:
    body = await gql(
        "{ offers { code kind percentBp flat { amount } maxDiscount { amount }"
        " minSubtotal { amount formatted } categories productIds } }"
    )
    offers = {o["code"]: o for o in body["data"]["offers"]}  # type: ignore[index]
    assert set(offers) == {o.code for o in OFFERS if not o.expired}
    assert "MONSOON25" not in offers
    assert offers["FLAT150"]["minSubtotal"] == {"amount": 99_900, "formatted": "₹999.00"}
    assert offers["GADGET5"]["categories"] == ["electronics"]
    assert sorted(offers["READMORE"]["productIds"]) == sorted(
        str(product_id(s)) for s in ("BOK-NOV-001", "BOK-NOV-002")
    )


async def test_product_offers_follow_product_and_category_scopes(gql: GraphQLClient) -> None:
    page = await products(gql, first=100)
    offers = {e["node"]["sku"]: {o["code"] for o in e["node"]["offers"]} for e in page["edges"]}
    everywhere = {"WELCOME10", "FLAT150", "ONLYONE"}
    assert offers["BOK-NOV-001"] == everywhere | {"READMORE"}
    assert offers["BOK-CKB-003"] == everywhere
    assert offers["ELE-EAR-001"] == everywhere | {"GADGET5"}
    assert offers["APP-TEE-001"] == everywhere | {"STYLE15"}


async def test_every_response_carries_a_request_id(gql: GraphQLClient) -> None:
    ok = await gql("{ offers { code } }")
    failed = await gql(PRODUCTS_QUERY, {"first": 1000})
    invalid = await gql("{ nope }")
    for body in (ok, failed, invalid):
        assert isinstance(body["extensions"]["requestId"], str)  # type: ignore[index]
    assert invalid["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"  # type: ignore[index]


async def test_a_product_found_by_id_has_the_offers_a_page_shows_it_with(
    gql: GraphQLClient,
) -> None:
    """A page's products get their offers with the page (read once); a product found by id
    loads its own: both ways answer the same offers, whatever way the query selects them."""
    page = await products(gql, first=100)
    on_page = {e["node"]["id"]: [o["code"] for o in e["node"]["offers"]] for e in page["edges"]}
    by_fragment = await gql(
        "fragment Shown on Product { id offers { code } }"
        " { products(first: 100) { nodes { ...Shown } edges { node { ... on Product { id } } } } }"
    )
    assert "errors" not in by_fragment, by_fragment
    nodes = by_fragment["data"]["products"]["nodes"]  # type: ignore[index]
    assert {n["id"]: [o["code"] for o in n["offers"]] for n in nodes} == on_page
    for sku in ("BOK-NOV-001", "ELE-EAR-001", "APP-TEE-001"):
        found = await gql(
            "query($id: ID!) { product(id: $id) { id offers { code } } }",
            {"id": str(product_id(sku))},
        )
        product = found["data"]["product"]  # type: ignore[index]
        assert [o["code"] for o in product["offers"]] == on_page[product["id"]]
