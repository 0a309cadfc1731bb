"""Undo what a test added to the run's shared catalog, so tests that list it see only the seed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from app.container import Container
from datasources.postgres.catalog import SqlOfferRepository
from infra.local.seed import OFFERS

SEEDED_CODES = frozenset(o.code for o in OFFERS)


async def switch_off_test_offers(container: Container) -> None:
    """Switch off every active offer the seed did not create (through the app's cached
    repository, so its cache forgets them too)."""
    database = SqlOfferRepository(container.sessions)
    for offer in await database.list_active(now=datetime.now(UTC)):
        if offer.code not in SEEDED_CODES:
            await container.deps.offers.upsert(replace(offer, active=False))
