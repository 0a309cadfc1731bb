"""Catalog entities and rules: products, their validation, and page sizes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from domain.errors import InvalidInput
from domain.money import BASIS_POINTS

GST_RATES_BP = frozenset({0, 500, 1200, 1800, 2800})  # 0, 5, 12, 18 and 28 %


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    sku: str
    title: str
    description: str
    category: str
    price: int  # paise, tax-exclusive
    gst_rate_bp: int
    stock: int
    image_url: str | None = None
    active: bool = True


def parse_id(raw: str) -> str | None:
    """The canonical form of an entity id, or None for a malformed one (answered like missing)."""
    try:
        return str(uuid.UUID(raw.strip()))
    except (ValueError, AttributeError):
        return None


def validate_page_size(*, first: int, maximum: int) -> int:
    if first < 0:
        raise InvalidInput("first must not be negative", field=["first"])
    if first > maximum:
        raise InvalidInput(f"first must be at most {maximum}", field=["first"])
    return first


def validate_gst_rate(rate_bp: int) -> int:
    if not 0 <= rate_bp <= BASIS_POINTS:
        raise InvalidInput("gstRateBp must be within 0..10000", field=["gstRateBp"])
    return rate_bp
