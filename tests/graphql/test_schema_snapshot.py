"""The committed SDL is what the code builds: clients rely on it (API.md)."""

from __future__ import annotations

from schema.build import print_sdl
from schema.snapshot import SNAPSHOT


def test_schema_graphql_matches_the_code() -> None:
    assert SNAPSHOT.read_text(encoding="utf-8") == print_sdl(), (
        "schema/schema.graphql is stale: run `make schema` and review the diff"
    )


def test_contract_names_from_api_md_are_present() -> None:
    sdl = print_sdl()
    for piece in (
        "type Money {",
        "products(first: Int = 20, after: String = null, search: String = null, "
        "category: String = null): ProductConnection!",
        "product(id: ID!): Product",
        "offers: [Offer!]!",
        "gstRateBp: Int!",
        "enum OfferKind {",
    ):
        assert piece in sdl, piece
