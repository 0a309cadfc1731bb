"""The query cost arithmetic (domain/query_cost.py): pure, no schema."""

from __future__ import annotations

import pytest

from domain.errors import ErrorCode
from domain.query_cost import QueryCost, QueryTooComplex, check, field_cost, page_size


@pytest.mark.parametrize(
    ("first", "expected"),
    [(50, 50), (0, 0), (-3, 0), (None, 20), ("50", 20), (True, 20), (2.5, 20)],
)
def test_page_size_is_first_when_an_int_else_the_default(first: object, expected: int) -> None:
    assert page_size(first=first, default=20) == expected


def test_a_field_is_its_weight_plus_items_times_its_selection() -> None:
    assert field_cost(weight=0, items=1, selection=0) == 0  # a scalar
    assert field_cost(weight=1, items=1, selection=3) == 4  # an object with three objects
    assert field_cost(weight=10, items=20, selection=0) == 10  # the timeline of one session
    # paymentSessions(first: 100) { edges { node { timeline { type } } } }
    node = field_cost(weight=1, items=1, selection=field_cost(weight=10, items=20, selection=0))
    edges = field_cost(weight=1, items=100, selection=node)
    assert field_cost(weight=1, items=1, selection=edges) == 1_102


def test_over_the_limit_is_refused_with_its_numbers() -> None:
    check(QueryCost(requested=5_000, limit=5_000))  # at the limit: allowed
    with pytest.raises(QueryTooComplex) as refused:
        check(QueryCost(requested=5_001, limit=5_000))
    assert refused.value.code is ErrorCode.QUERY_TOO_COMPLEX
    assert "5001" in refused.value.message and "5000" in refused.value.message
    assert QueryCost(requested=7, limit=9).as_extension() == {"requested": 7, "limit": 9}
