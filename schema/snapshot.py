"""The committed SDL snapshot (schema/schema.graphql): print, compare, or rewrite it.

``python -m schema.snapshot --write`` after an intended change; a test fails on drift.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from schema.build import print_sdl

SNAPSHOT = Path(__file__).with_name("schema.graphql")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite schema/schema.graphql")
    args = parser.parse_args()
    if args.write:
        SNAPSHOT.write_text(print_sdl(), encoding="utf-8")
    else:
        print(print_sdl(), end="")


if __name__ == "__main__":
    main()
