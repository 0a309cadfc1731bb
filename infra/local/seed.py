"""Demo catalog for the local stack (and the tests that browse it).

24+ products in 6 categories with GST rates of 0, 5, 12, 18 and 28 %, and offers of both
kinds, with and without minimums and caps, scoped to products or categories, one expired.
Ids are derived from SKUs and codes (UUIDv5), so seeding again updates rather than duplicates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from datasources.postgres.tables import OfferRow, ProductRow

NAMESPACE = uuid.UUID("5f0b7c84-8f0e-4d4e-9a55-2f4f3c2b9d11")


def product_id(sku: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"product:{sku}")


def offer_id(code: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"offer:{code}")


@dataclass(frozen=True)
class DemoProduct:
    sku: str
    title: str
    category: str
    price: int  # paise
    gst_rate_bp: int
    stock: int
    description: str = ""


PRODUCTS: tuple[DemoProduct, ...] = (
    # apparel: 5 % below ₹1,000 a piece, 12 % above
    DemoProduct(
        "APP-TEE-001",
        "Cotton Crew T-Shirt",
        "apparel",
        49_900,
        500,
        120,
        "Soft 180 gsm combed cotton, regular fit.",
    ),
    DemoProduct(
        "APP-TEE-002",
        "Linen Blend Shirt",
        "apparel",
        149_900,
        1200,
        60,
        "Breathable linen-cotton shirt for Indian summers.",
    ),
    DemoProduct(
        "APP-KRT-003",
        "Handloom Kurta",
        "apparel",
        219_900,
        1200,
        35,
        "Handwoven khadi kurta from Bengal.",
    ),
    DemoProduct("APP-SCK-004", "Bamboo Socks (3 pairs)", "apparel", 39_900, 500, 200),
    DemoProduct("APP-JKT-005", "Quilted Winter Jacket", "apparel", 399_900, 1200, 15),
    # electronics: 18 %, 28 % for some
    DemoProduct(
        "ELE-EAR-001",
        "Wireless Earbuds",
        "electronics",
        299_900,
        1800,
        80,
        "Bluetooth 5.3 earbuds with 30 h battery.",
    ),
    DemoProduct("ELE-PWR-002", "20000 mAh Power Bank", "electronics", 179_900, 1800, 90),
    DemoProduct("ELE-SPK-003", "Portable Speaker", "electronics", 249_900, 1800, 40),
    DemoProduct(
        "ELE-MON-004",
        "27-inch 4K Monitor",
        "electronics",
        2_899_900,
        2800,
        10,
        "IPS panel, USB-C 65 W.",
    ),
    DemoProduct("ELE-KBD-005", "Mechanical Keyboard", "electronics", 549_900, 1800, 25),
    DemoProduct("ELE-CBL-006", "USB-C Cable 1 m", "electronics", 29_900, 1800, 500),
    # grocery: 0 % on fresh staples, 5 % on packaged, 12 % on some
    DemoProduct("GRO-RCE-001", "Basmati Rice 5 kg", "grocery", 64_900, 500, 150),
    DemoProduct("GRO-DAL-002", "Toor Dal 1 kg", "grocery", 17_900, 0, 300),
    DemoProduct("GRO-TEA-003", "Assam Tea 500 g", "grocery", 28_900, 500, 180),
    DemoProduct("GRO-GHE-004", "Desi Ghee 1 L", "grocery", 69_900, 1200, 70),
    DemoProduct("GRO-HNY-005", "Raw Honey 500 g", "grocery", 39_900, 0, 90),
    # books: 0 %
    DemoProduct("BOK-NOV-001", "The Guide (R. K. Narayan)", "books", 29_900, 0, 40),
    DemoProduct("BOK-NOV-002", "Train to Pakistan", "books", 34_900, 0, 35),
    DemoProduct("BOK-CKB-003", "Regional Indian Cookbook", "books", 79_900, 0, 20),
    DemoProduct("BOK-KID-004", "Panchatantra Stories", "books", 19_900, 0, 60),
    # home: 12 % and 18 %
    DemoProduct("HOM-BED-001", "Cotton Bedsheet Set", "home", 129_900, 1200, 45),
    DemoProduct("HOM-LMP-002", "Brass Table Lamp", "home", 249_900, 1800, 12),
    DemoProduct("HOM-MUG-003", "Stoneware Mug (pair)", "home", 59_900, 1200, 100),
    # beauty: 18 % and 28 %
    DemoProduct("BEA-SER-001", "Vitamin C Serum", "beauty", 89_900, 1800, 75),
    DemoProduct("BEA-PRF-002", "Eau de Parfum 50 ml", "beauty", 349_900, 2800, 18),
    DemoProduct("BEA-SOP-003", "Neem Soap (4 bars)", "beauty", 24_900, 1800, 140),
    # one unit left: the last-unit concurrency scenario
    DemoProduct("ELE-CAM-007", "Instant Camera (last unit)", "electronics", 599_900, 1800, 1),
)


@dataclass(frozen=True)
class DemoOffer:
    code: str
    description: str
    kind: str
    percent_bp: int | None = None
    flat: int | None = None
    max_discount: int | None = None
    min_subtotal: int | None = None
    product_skus: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    usage_limit: int | None = None
    per_customer_limit: int | None = None
    expired: bool = False


OFFERS: tuple[DemoOffer, ...] = (
    DemoOffer(
        "WELCOME10",
        "10 % off everything, up to ₹200",
        "PERCENT",
        percent_bp=1000,
        max_discount=20_000,
    ),
    DemoOffer(
        "FLAT150", "₹150 off orders of ₹999 or more", "FLAT", flat=15_000, min_subtotal=99_900
    ),
    DemoOffer(
        "GADGET5",
        "5 % off electronics over ₹5,000, up to ₹1,000",
        "PERCENT",
        percent_bp=500,
        max_discount=100_000,
        min_subtotal=500_000,
        categories=("electronics",),
    ),
    DemoOffer(
        "READMORE",
        "₹50 off selected novels",
        "FLAT",
        flat=5_000,
        product_skus=("BOK-NOV-001", "BOK-NOV-002"),
    ),
    DemoOffer(
        "STYLE15",
        "15 % off apparel, once per customer",
        "PERCENT",
        percent_bp=1500,
        categories=("apparel",),
        per_customer_limit=1,
    ),
    DemoOffer("ONLYONE", "₹100 off, a single use in all", "FLAT", flat=10_000, usage_limit=1),
    DemoOffer(
        "MONSOON25", "25 % off (monsoon sale, ended)", "PERCENT", percent_bp=2500, expired=True
    ),
)


async def seed_catalog(
    sessions: async_sessionmaker[AsyncSession], *, now: datetime | None = None
) -> None:
    """Write the demo catalog. Seeding again resets each product's on-hand count to the demo's
    (never below what open payment sessions hold) and leaves their reservations alone."""
    now = now or datetime.now(UTC)
    async with sessions() as session, session.begin():
        for p in PRODUCTS:
            existing = await session.get(ProductRow, product_id(p.sku), with_for_update=True)
            reserved = existing.reserved if existing is not None else 0
            await session.merge(
                ProductRow(
                    id=product_id(p.sku),
                    sku=p.sku,
                    title=p.title,
                    description=p.description or p.title,
                    category=p.category,
                    price_paise=p.price,
                    gst_rate_bp=p.gst_rate_bp,
                    on_hand=max(p.stock, reserved),
                    reserved=reserved,
                    image_url=None,
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
            )
        for o in OFFERS:
            starts = now - timedelta(days=120) if o.expired else now - timedelta(days=1)
            ends = now - timedelta(days=30) if o.expired else now + timedelta(days=365)
            await session.merge(
                OfferRow(
                    id=offer_id(o.code),
                    code=o.code,
                    description=o.description,
                    kind=o.kind,
                    percent_bp=o.percent_bp,
                    flat_paise=o.flat,
                    max_discount_paise=o.max_discount,
                    min_subtotal_paise=o.min_subtotal,
                    starts_at=starts,
                    ends_at=ends,
                    product_ids=[str(product_id(s)) for s in o.product_skus],
                    categories=list(o.categories),
                    usage_limit=o.usage_limit,
                    per_customer_limit=o.per_customer_limit,
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
            )
