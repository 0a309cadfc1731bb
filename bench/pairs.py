"""The catalog benchmark: each candidate against its baseline, interleaved in one run.

    python -m bench.run --pairs [--iterations N] [--concurrency C] [--rounds R] [--warmup W]
                        [--out bench/results/latest.json]

Pairs (bench/README.md says how to read the figures):

- ``products_offers``: ``products(first: 100) { … offers { code } }`` through the whole ASGI app
  in-process, with the live offers read through Redis (candidate, the app as configured with
  ``REDIS_URL``) or straight from PostgreSQL (baseline, ``SqlOfferRepository`` in the Deps);
- ``product_lookups``: 20 ``product(id:)`` look-ups in one request, batched by the DataLoader
  (candidate), or as 20 separate one-id requests sent at once (baseline).

Both variants of a pair run in the same process on the same engine, round after round, their
order swapped every round, so whatever the machine does meanwhile hits both alike. PostgreSQL
and Redis are found as the tests find them (``tests/support/services.py``): ``DATABASE_URL`` /
``REDIS_URL``, else the standard local ports, else throwaway servers. A fresh database
``storefront_bench_<random>`` is migrated and seeded, and dropped at the end; the cache keys the
run wrote are deleted from Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.exceptions import RedisError

from app.container import Container
from app.main import create_app
from app.settings import Settings
from bench.measure import BenchError, Pair, Variant, compare, measure, warm_up
from bench.stack import bench_database
from datasources.postgres import migrate
from datasources.postgres.catalog import SqlOfferRepository
from datasources.postgres.engine import StatementCounter
from datasources.redis.offers_cache import RedisOfferCache
from infra.local.seed import PRODUCTS, product_id, seed_catalog
from tests.support.services import postgres_server_url, redis_server_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path("bench/results/pairs.json")

PRODUCTS_QUERY = (
    "{ products(first: 100) { edges { node { sku price { amount formatted } offers { code } } } } }"
)
LOOKUP_IDS = 20
PRODUCT_FIELDS = "sku title price { amount formatted }"
ONE_PRODUCT_QUERY = f"query($id: ID!) {{ product(id: $id) {{ {PRODUCT_FIELDS} }} }}"
BATCHED_QUERY = "query({params}) {{ {fields} }}".format(
    params=", ".join(f"$i{k}: ID!" for k in range(LOOKUP_IDS)),
    fields=" ".join(f"p{k}: product(id: $i{k}) {{ {PRODUCT_FIELDS} }}" for k in range(LOOKUP_IDS)),
)


@contextlib.asynccontextmanager
async def containers(settings: Settings) -> AsyncIterator[tuple[Container, Container]]:
    """The app's own container (offers through Redis), and one sharing its engine whose Deps
    read offers from PostgreSQL. Migrated and seeded; closed, and its cache keys deleted, after.
    """
    cached = Container(settings)
    try:
        if not isinstance(cached.offers, RedisOfferCache):
            raise BenchError("the offers repository is not the Redis cache: is redis_url set?")
        await migrate.upgrade(cached.engine)
        await seed_catalog(cached.sessions)
        direct = Container(settings)
        direct.__dict__["engine"] = cached.engine
        direct.__dict__["sessions"] = cached.sessions
        direct.__dict__["deps"] = dataclasses.replace(
            cached.deps, offers=SqlOfferRepository(cached.sessions)
        )
        yield cached, direct
    finally:
        if cached.redis is not None:
            with contextlib.suppress(RedisError, OSError):
                async for key in cached.redis.scan_iter(match=f"{cached.cache_prefix}:*"):
                    await cached.redis.delete(key)
        await cached.aclose()  # the engine both share, Redis, the AWS and Razorpay clients


@contextlib.asynccontextmanager
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        yield http


def build_pairs(cached: httpx.AsyncClient, direct: httpx.AsyncClient) -> list[Pair]:
    def products(data: list[Any]) -> Any:
        return data[0]["products"]["edges"]

    def products_shown(edges: list[Any]) -> dict[str, int]:
        offers = sum(len(edge["node"]["offers"]) for edge in edges)
        return {"products_per_request": len(edges), "offers_shown_per_request": offers}

    def products_found(found: list[Any]) -> dict[str, int]:
        return {"ids_per_operation": len(found), "found": sum(p is not None for p in found)}

    ids = [str(product_id(p.sku)) for p in PRODUCTS[:LOOKUP_IDS]]
    batched = {"query": BATCHED_QUERY, "variables": {f"i{k}": i for k, i in enumerate(ids)}}
    separate = tuple({"query": ONE_PRODUCT_QUERY, "variables": {"id": i}} for i in ids)
    return [
        Pair(
            name="products_offers",
            question="What does reading the live offers through Redis buy the hottest query?",
            candidate=Variant(
                "offers_via_redis",
                "the app as configured: RedisOfferCache over SqlOfferRepository",
                cached,
                ({"query": PRODUCTS_QUERY},),
                products,
            ),
            baseline=Variant(
                "offers_via_postgres",
                "the same app with Deps.offers = SqlOfferRepository",
                direct,
                ({"query": PRODUCTS_QUERY},),
                products,
            ),
            describe=products_shown,
            notes={"query": PRODUCTS_QUERY},
        ),
        Pair(
            name="product_lookups",
            question=f"What does DataLoader batching buy {LOOKUP_IDS} product(id:) look-ups?",
            candidate=Variant(
                "one_batched_request",
                f"one request with {LOOKUP_IDS} aliased product(id:) fields (one DataLoader batch)",
                cached,
                (batched,),
                lambda data: [data[0][f"p{k}"] for k in range(LOOKUP_IDS)],
            ),
            baseline=Variant(
                "separate_requests",
                f"{LOOKUP_IDS} one-id requests sent at once (asyncio.gather)",
                cached,
                separate,
                lambda data: [d["product"] for d in data],
            ),
            describe=products_found,
            share=0.2,  # its baseline sends 20 requests per operation
            notes={"query": BATCHED_QUERY, "single_query": ONE_PRODUCT_QUERY},
        ),
    ]


async def benchmark(
    *,
    postgres_url: str,
    redis_url: str,
    iterations: int,
    rounds: int,
    warmup: int,
    concurrency: int,
) -> dict[str, Any]:
    async with bench_database(postgres_url) as (database_url, postgres_version):
        # the benchmark sends thousands of requests from one address: limits would measure
        # themselves, not the caching
        settings = Settings(
            database_url=database_url,
            redis_url=redis_url,
            log_level="WARNING",
            rate_limits_enabled=False,
        )
        async with (
            containers(settings) as (cached, direct),
            client(cached) as cached_http,
            client(direct) as direct_http,
        ):
            redis_version = await _redis_version(cached)
            pairs = build_pairs(cached_http, direct_http)
            await warm_up(pairs, operations=warmup, concurrency=concurrency)
            started = time.perf_counter()
            with StatementCounter(cached.engine) as counter:
                await measure(
                    pairs,
                    counter=counter,
                    iterations=iterations,
                    rounds=rounds,
                    concurrency=concurrency,
                )
            measured_seconds = time.perf_counter() - started
    return {
        "benchmark": "catalog",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "machine": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "postgresql": postgres_version,
            "redis": redis_version,
        },
        "settings": {
            "iterations": iterations,
            "rounds": rounds,
            "warmup_operations": warmup,
            "concurrency": concurrency,
        },
        "measured_seconds": round(measured_seconds, 1),
        "pairs": [compare(pair) for pair in pairs],
    }


async def _redis_version(container: Container) -> str:
    """Redis's version; a Redis that does not answer stops the run (the cache would fall back
    to PostgreSQL and the candidate would measure the baseline)."""
    assert container.redis is not None
    try:
        return str((await container.redis.info("server"))["redis_version"])
    except (RedisError, OSError) as exc:
        raise BenchError(f"Redis does not answer: {type(exc).__name__}: {exc}") from exc


def _git_commit() -> str | None:
    """The commit measured (read-only ``git rev-parse``); None outside a checkout."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    if found.returncode != 0:
        return None
    return found.stdout.strip() or None


def _cell(value: float | None, *, width: int, digits: int = 3) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def render(result: dict[str, Any]) -> str:
    m, s = result["machine"], result["settings"]
    lines = [
        f"catalog benchmark at {result['git_commit']}: {m['cpu_count']} CPUs, "
        f"Python {m['python']}, PostgreSQL {m['postgresql']}, Redis {m['redis']}",
        f"{s['rounds']} interleaved rounds, concurrency {s['concurrency']}, "
        f"{result['measured_seconds']} s measured",
    ]
    header = f"{'':38}{'median ms':>10}{'p95 ms':>9}{'ops/s':>9}{'req/s':>9}{'SQL/op':>8}"
    for pair in result["pairs"]:
        operations = pair["candidate"]["operations"]
        lines += ["", f"{pair['name']}: {pair['question']} ({operations} each)", header]
        for role in ("candidate", "baseline"):
            v = pair[role]
            lines.append(
                f"  {role:10} {v['name']:25}{_cell(v['median_ms'], width=10)}"
                f"{_cell(v['p95_ms'], width=9)}{_cell(v['operations_per_s'], width=9, digits=1)}"
                f"{_cell(v['requests_per_s'], width=9, digits=1)}"
                f"{_cell(v['sql_statements_per_operation'], width=8)}"
            )
        r, spread = pair["ratios"], pair["round_median_ratios"]
        lines.append(
            f"  {'candidate/baseline':36}{_cell(r['median_ms'], width=10)}"
            f"{_cell(r['p95_ms'], width=9)}{_cell(r['operations_per_s'], width=9)}{'':9}"
            f"{_cell(r['sql_statements_per_operation'], width=8)}"
        )
        lines.append(
            f"  median ratio per round: min {spread['min']:.3f}, median {spread['median']:.3f}, "
            f"max {spread['max']:.3f}"
        )
    return "\n".join(lines)


def write(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".tmp")  # never a half-written result file
    partial.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(out)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run --pairs", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--iterations",
        type=_positive,
        default=800,
        help="measured operations per variant (the look-ups pair runs a fifth of them)",
    )
    parser.add_argument("--rounds", type=_positive, default=20, help="interleaved rounds")
    parser.add_argument(
        "--warmup",
        type=_positive,
        default=40,
        help="unmeasured operations per variant before measuring (the look-ups pair: a fifth)",
    )
    parser.add_argument(
        "--concurrency", type=_positive, default=1, help="operations in flight per variant"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON result file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with postgres_server_url() as postgres_url, redis_server_url() as redis_url:
            result = asyncio.run(
                benchmark(
                    postgres_url=postgres_url,
                    redis_url=redis_url,
                    iterations=args.iterations,
                    rounds=args.rounds,
                    warmup=args.warmup,
                    concurrency=args.concurrency,
                )
            )
    except pytest.exit.Exception as exc:  # a server is neither running nor installed
        print(f"bench: {exc.msg}", file=sys.stderr)
        return 3
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the database is dropped and the cache keys deleted on the way
        print("bench: interrupted", file=sys.stderr)
        return 130
    print(render(result))
    write(result, args.out)
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
