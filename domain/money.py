"""Money is an integer number of paise everywhere; percentages are basis points.

All rounding of money lives here, in :func:`div_round_half_up` and :func:`div_floor`.
"""

from __future__ import annotations

from dataclasses import dataclass

CURRENCY = "INR"
BASIS_POINTS = 10_000  # 100 % in basis points


def div_floor(numerator: int, denominator: int) -> int:
    """Exact integer division rounded towards negative infinity."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    return numerator // denominator


def div_round_half_up(numerator: int, denominator: int) -> int:
    """Exact integer division rounded half away from zero (``round_half_up`` of API.md).

    Works on integers only, so no binary floating point ever touches a paisa.
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return sign * quotient


def apply_basis_points_floor(amount: int, rate_bp: int) -> int:
    """``floor(amount × rate_bp / 10000)``."""
    return div_floor(amount * rate_bp, BASIS_POINTS)


def apply_basis_points_half_up(amount: int, rate_bp: int) -> int:
    """``round_half_up(amount × rate_bp / 10000)``."""
    return div_round_half_up(amount * rate_bp, BASIS_POINTS)


def group_indian(whole: int) -> str:
    """Digits grouped the Indian way: 12,34,56,789."""
    digits = str(whole)
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return ",".join([*groups, tail])


def format_inr(paise: int) -> str:
    """``₹1,23,456.78``; negative amounts as ``-₹5.00``."""
    sign = "-" if paise < 0 else ""
    rupees, rest = divmod(abs(paise), 100)
    return f"{sign}₹{group_indian(rupees)}.{rest:02d}"


@dataclass(frozen=True, slots=True)
class Money:
    amount: int  # paise
    currency: str = CURRENCY

    @property
    def formatted(self) -> str:
        if self.currency != CURRENCY:
            return f"{self.currency} {self.amount / 100:.2f}"
        return format_inr(self.amount)
