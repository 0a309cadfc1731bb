"""Money helpers: integer-only rounding and Indian-style formatting."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.money import (
    Money,
    apply_basis_points_floor,
    apply_basis_points_half_up,
    div_floor,
    div_round_half_up,
    format_inr,
    group_indian,
)

FAST = settings(max_examples=200, deadline=None)


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (5, 10, 1),  # 0.5 → 1
        (4, 10, 0),  # 0.4 → 0
        (15, 10, 2),  # 1.5 → 2
        (25, 10, 3),  # 2.5 → 3 (half up, not banker's rounding)
        (-5, 10, -1),  # -0.5 → -1 (half away from zero)
        (-4, 10, 0),
        (-15, 10, -2),
        (-25, 10, -3),
        (-16, 10, -2),
        (0, 7, 0),
        (7, 7, 1),
        (-7, 7, -1),
    ],
)
def test_div_round_half_up(numerator: int, denominator: int, expected: int) -> None:
    assert div_round_half_up(numerator, denominator) == expected


@pytest.mark.parametrize(("numerator", "expected"), [(7, 2), (-7, -3), (6, 2), (-6, -2)])
def test_div_floor(numerator: int, expected: int) -> None:
    assert div_floor(numerator, 3) == expected


@pytest.mark.parametrize("denominator", [0, -1])
def test_division_needs_a_positive_denominator(denominator: int) -> None:
    with pytest.raises(ValueError):
        div_floor(1, denominator)
    with pytest.raises(ValueError):
        div_round_half_up(1, denominator)


@FAST
@given(numerator=st.integers(-(10**15), 10**15), denominator=st.integers(1, 10**6))
def test_div_round_half_up_matches_exact_fraction(numerator: int, denominator: int) -> None:
    exact = Fraction(numerator, denominator)
    expected = math.floor(abs(exact) + Fraction(1, 2))
    assert div_round_half_up(numerator, denominator) == (expected if exact >= 0 else -expected)
    assert div_floor(numerator, denominator) == math.floor(exact)


def test_basis_points() -> None:
    assert apply_basis_points_floor(999, 1000) == 99  # 99.9 → 99
    assert apply_basis_points_half_up(999, 1000) == 100  # 99.9 → 100
    assert apply_basis_points_half_up(10, 500) == 1  # 0.5 → 1
    assert apply_basis_points_half_up(30, 1800) == 5  # 5.4 → 5


@pytest.mark.parametrize(
    ("paise", "text"),
    [
        (0, "₹0.00"),
        (5, "₹0.05"),
        (100, "₹1.00"),
        (99_999, "₹999.99"),
        (100_000, "₹1,000.00"),
        (50_000_000, "₹5,00,000.00"),
        (123_456_789, "₹12,34,567.89"),
        (-500, "-₹5.00"),
        (-1, "-₹0.01"),
        (-123_456_789, "-₹12,34,567.89"),
    ],
)
def test_format_inr(paise: int, text: str) -> None:
    assert format_inr(paise) == text


@pytest.mark.parametrize(
    ("whole", "text"),
    [(0, "0"), (999, "999"), (1_000, "1,000"), (12_345, "12,345"), (1_234_567, "12,34,567")],
)
def test_group_indian(whole: int, text: str) -> None:
    assert group_indian(whole) == text


@FAST
@given(paise=st.integers(-(10**12), 10**12))
def test_format_inr_round_trips(paise: int) -> None:
    text = format_inr(paise)
    digits = text.replace("-", "").replace("₹", "").replace(",", "").replace(".", "")
    assert int(digits) == abs(paise)
    assert text.startswith("-") is (paise < 0)


def test_money_formatted() -> None:
    assert Money(amount=123_456_789).formatted == "₹12,34,567.89"
    assert Money(amount=250, currency="USD").formatted == "USD 2.50"
