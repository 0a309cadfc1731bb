"""The stock rule of a product save (domain.catalog.check_stock_on_hand): a stale form or on
hand below what payment sessions hold is a STOCK_CONFLICT."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.catalog import check_stock_on_hand, validated_product
from domain.errors import DomainError, ErrorCode


def refused(**arguments: int | None) -> DomainError:
    with pytest.raises(DomainError) as caught:
        check_stock_on_hand(**arguments)
    assert caught.value.code == ErrorCode.STOCK_CONFLICT
    return caught.value


def test_a_save_without_expectation_may_set_any_count_down_to_what_is_held() -> None:
    check_stock_on_hand(new=2, current=9, reserved=2, expected=None)
    check_stock_on_hand(new=50, current=9, reserved=2, expected=None)
    error = refused(new=1, current=9, reserved=2, expected=None)
    assert error.field == ["stock"]
    assert error.message == ("open payment sessions hold 2 units: stock on hand must be at least 2")
    assert "hold 1 unit:" in refused(new=0, current=3, reserved=1, expected=None).message


def test_a_stale_form_is_refused_before_anything_else() -> None:
    check_stock_on_hand(new=4, current=7, reserved=0, expected=7)
    error = refused(new=4, current=7, reserved=6, expected=5)  # stale *and* below the holds
    assert error.field == ["expectedStockOnHand"]
    assert error.message == "stock on hand changed since it was read: it is 7 now, not 5"


def test_a_new_product_has_nothing_on_hand_before() -> None:
    check_stock_on_hand(new=3, current=0, reserved=0, expected=0)
    assert refused(new=3, current=0, reserved=0, expected=3).field == ["expectedStockOnHand"]


@given(
    new=st.integers(0, 50),
    current=st.integers(0, 50),
    reserved=st.integers(0, 50),
    expected=st.none() | st.integers(0, 50),
)
def test_a_save_is_allowed_exactly_when_the_form_is_fresh_and_the_holds_fit(
    new: int, current: int, reserved: int, expected: int | None
) -> None:
    allowed = (expected is None or expected == current) and new >= reserved
    try:
        check_stock_on_hand(new=new, current=current, reserved=reserved, expected=expected)
    except DomainError as error:
        assert not allowed
        assert error.code == ErrorCode.STOCK_CONFLICT
    else:
        assert allowed


def test_validated_input_puts_stock_on_hand() -> None:
    product = validated_product(
        id=str(uuid.uuid4()), sku="S", title="T", category="c", price=1, gst_rate_bp=0, stock=7
    )
    assert (product.stock, product.stock_on_hand) == (7, 7)
