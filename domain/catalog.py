"""Catalog entities and rules: products, their validation, and page sizes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from domain.errors import DomainError, ErrorCode, InvalidInput
from domain.money import BASIS_POINTS
from domain.text import check_text

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
    stock: int  # available to buy: on hand minus the units open payment sessions hold
    stock_on_hand: int  # on the shelf, held units included (admins only)
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


MAX_SKU_LENGTH = 64  # products.sku VARCHAR(64)
MAX_TITLE_LENGTH = 200  # products.title VARCHAR(200)
MAX_CATEGORY_LENGTH = 64  # products.category VARCHAR(64)
MAX_IMAGE_URL_LENGTH = 2048


def _required_text(value: str, *, field: str, maximum: int) -> str:
    value = check_text(value, field=[field]).strip()
    if not value:
        raise InvalidInput(f"{field} must not be blank", field=[field])
    if len(value) > maximum:
        raise InvalidInput(f"{field} is limited to {maximum} characters", field=[field])
    return value


def validated_product(
    *,
    id: str,
    sku: str,
    title: str,
    category: str,
    price: int,
    gst_rate_bp: int,
    stock: int,
    description: str | None = None,
    image_url: str | None = None,
    active: bool = True,
) -> Product:
    """Normalise admin input (``ProductInput``) into a product, or raise InvalidInput with
    ``field`` set to the input field at fault. Text is stripped; a blank image URL is none.
    ``stock`` is what goes on hand; what is available comes back from the store, which
    knows what open payment sessions hold (until then both are the input's).
    """
    if price < 0:
        raise InvalidInput("price must not be negative", field=["price"])
    if stock < 0:
        raise InvalidInput("stock must not be negative", field=["stock"])
    url = check_text(image_url or "", field=["imageUrl"]).strip() or None
    if url is not None and (
        not url.startswith(("https://", "http://")) or len(url) > MAX_IMAGE_URL_LENGTH
    ):
        raise InvalidInput("imageUrl must be an http(s) URL", field=["imageUrl"])
    return Product(
        id=id,
        sku=_required_text(sku, field="sku", maximum=MAX_SKU_LENGTH),
        title=_required_text(title, field="title", maximum=MAX_TITLE_LENGTH),
        description=check_text(description or "", field=["description"], multiline=True).strip(),
        category=_required_text(category, field="category", maximum=MAX_CATEGORY_LENGTH),
        price=price,
        gst_rate_bp=validate_gst_rate(gst_rate_bp),
        stock=stock,
        stock_on_hand=stock,
        image_url=url,
        active=active,
    )


def check_stock_on_hand(*, new: int, current: int, reserved: int, expected: int | None) -> None:
    """Whether ``productUpsert`` may set on hand to ``new`` when it is ``current`` and open
    payment sessions hold ``reserved`` of it. ``expected`` (``expectedStockOnHand``) is what
    the form read: a save made from a stale form is refused, and so is setting on hand below
    what sessions hold (those units are promised). Both raise ``STOCK_CONFLICT``.
    """
    if expected is not None and expected != current:
        raise DomainError(
            f"stock on hand changed since it was read: it is {current} now, not {expected}",
            code=ErrorCode.STOCK_CONFLICT,
            field=["expectedStockOnHand"],
        )
    if new < reserved:
        units = "unit" if reserved == 1 else "units"
        raise DomainError(
            f"open payment sessions hold {reserved} {units}: stock on hand must be at least"
            f" {reserved}",
            code=ErrorCode.STOCK_CONFLICT,
            field=["stock"],
        )
