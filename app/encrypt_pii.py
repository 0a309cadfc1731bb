"""Seal customer PII left in plain text by rows written before encryption (issue 11).

    python -m app.encrypt_pii          # or: make encrypt-pii

Runs on the app's Settings and Container (``DATABASE_URL``, ``KMS_KEY_ID`` …), after the
migrations: the deploy's migration function (app/deploy_hooks.py) and the local stack run it
every time. Idempotent: values already sealed (``pii:…``) are skipped. Exit status 0, or 2
when no KMS key is configured (there is nothing to seal with).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from app.container import Container
from app.settings import Settings, get_settings
from datasources.postgres.pii_backfill import Sealed, seal_plain_pii

logger = logging.getLogger(__name__)


class NoKmsKey(RuntimeError):
    """KMS_KEY_ID is not set: PII cannot be sealed."""


async def encrypt_pii(container: Container) -> Sealed:
    if not container.settings.kms_key_id:
        raise NoKmsKey("KMS_KEY_ID is not set: there is no key to seal customer PII with")
    sealed = await seal_plain_pii(container.sessions, container.pii)
    logger.info(
        "customer PII sealed",
        extra={"sessions": sealed.sessions, "outbox_messages": sealed.outbox_messages},
    )
    return sealed


async def run(settings: Settings) -> Sealed:
    container = Container(settings)
    try:
        await container.refresh_secrets()
        return await encrypt_pii(container)
    finally:
        await container.aclose()


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m app.encrypt_pii", description=__doc__).parse_args(argv)
    try:
        sealed = asyncio.run(run(get_settings()))
    except NoKmsKey as exc:
        print(f"encrypt_pii: {exc}", file=sys.stderr)
        return 2
    print(f"sealed: {sealed.sessions} payment sessions, {sealed.outbox_messages} outbox messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
