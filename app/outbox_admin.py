"""Operator command for the outbox's dead letter: list parked messages, requeue them.

    python -m app.outbox_admin list    [--kind KIND] [--id ID ...] [--limit N]
    python -m app.outbox_admin requeue [--kind KIND] [--id ID ...]

It runs on the app's own Settings and Container (``DATABASE_URL`` …). ``requeue`` without a
filter requeues every parked message: each becomes due now with a fresh count of attempts, and
the next dispatcher run (the scheduled job, every minute) delivers it. Exit status 0, or 2 for
a bad argument.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Sequence
from typing import TextIO

from app.container import Container
from app.settings import get_settings
from domain.dead_letter import ParkedMessage
from domain.outbox import OutboxKind

SHOWN = 1000  # requeue lists at most this many of the messages it requeues


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.outbox_admin",
        description="List or requeue outbox messages parked after too many failed attempts.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("list", "show parked messages"),
        ("requeue", "make parked messages due again (all of them without a filter)"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "--kind", choices=[kind.value for kind in OutboxKind], help="only this kind"
        )
        command.add_argument(
            "--id", dest="ids", action="append", metavar="ID", help="only this message (repeat)"
        )
        if name == "list":
            command.add_argument("--limit", type=int, default=100, help="at most N (100)")
    return parser


def _line(message: ParkedMessage) -> str:
    return (
        f"{message.id}  {message.kind.value}  {message.dedupe_key}  "
        f"attempts={message.attempts}  parked_at={message.parked_at.isoformat()}  "
        f"last_error={message.last_error or ''}"
    )


async def run(
    argv: Sequence[str], *, container: Container | None = None, out: TextIO | None = None
) -> int:
    """The command on ``container`` (default: the app's own, closed afterwards)."""
    out = out or sys.stdout
    parser = _parser()
    args = parser.parse_args(list(argv))
    ids: list[str] | None = args.ids
    for message_id in ids or ():
        try:
            uuid.UUID(message_id)
        except ValueError:
            parser.error(f"--id {message_id!r} is not an outbox message id (a uuid)")
    kind = OutboxKind(args.kind) if args.kind else None
    own = container is None
    container = container or Container(get_settings())
    try:
        outbox = container.deps.outbox
        if args.command == "list":
            parked = await outbox.parked(limit=max(args.limit, 1), kind=kind, ids=ids)
            for message in parked:
                print(_line(message), file=out)
            print(f"{len(parked)} shown, {await outbox.parked_count()} parked", file=out)
        else:
            for message in await outbox.parked(limit=SHOWN, kind=kind, ids=ids):
                print(f"requeue {_line(message)}", file=out)
            count = await outbox.requeue(now=container.deps.clock.now(), kind=kind, ids=ids)
            print(
                f"requeued {count} message(s); {await outbox.parked_count()} still parked, "
                f"{await outbox.pending_count()} pending",
                file=out,
            )
    finally:
        if own:
            await container.aclose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
