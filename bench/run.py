"""The gateway benchmark: the project under uvicorn against its baselines, side by side in one run.

    python -m bench.run [--seconds S] [--rounds R] [--checkout N] [--cold-starts K]
                        [--leak-requests N] [--out bench/results/latest.json] [--no-plots]
    python -m bench.run --pairs [...]      the older in-process pairs (bench/pairs.py)

bench/README.md says what is measured and how to read it; bench/RESULTS.md is the last run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from app.container import Container
from app.main import create_app
from app.settings import Settings
from bench import report
from bench.checkout import checkout_vs_floor
from bench.coldstart import cold_starts
from bench.load import Target, WrkResult, run_wrk, wrk_path
from bench.stack import (
    ROOT,
    BenchError,
    Process,
    Stack,
    emulator,
    graphql,
    open_stack,
    razorpay_sandbox,
    uvicorn_process,
)
from datasources.postgres.engine import StatementCounter
from tests.support.services import postgres_server_url, redis_server_url

DEFAULT_OUT = Path("bench/results/latest.json")
PAGE = 50
NODE = "id title category price { amount currency formatted } gstRateBp offers { code }"


def catalog_query(first: int = PAGE) -> str:
    return (
        f"{{ products(first: {first}) {{ edges {{ cursor node {{ {NODE} }} }} "
        "pageInfo { hasNextPage endCursor } } }"
    )


CATALOG_QUERY = catalog_query()
MONEY = "{ amount currency formatted }"
CART_QUERY = (
    f"{{ cart {{ id version lines {{ id quantity product {{ id title }} unitPrice {MONEY} "
    f"total {MONEY} }} cost {{ subtotal {MONEY} discount {MONEY} tax {MONEY} total {MONEY} }} }} }}"
)
PRODUCT_UPSERT = """mutation($input: ProductInput!) {
  productUpsert(input: $input) { product { id } errors { code message } } }"""
ADD_LINES = """mutation($lines: [CartLineInput!]!) {
  cartLinesAdd(lines: $lines) { cart { version } errors { code } } }"""
CONCURRENCY = (1, 8, 32)
SQL_PAGE_SIZES = (5, 20, 50)
LEAK_BUDGET_SECONDS = 30.0


def get_url(base: str, query: str, extensions: dict[str, Any] | None = None) -> str:
    params = {"query": query} if query else {}
    if extensions is not None:
        params["extensions"] = json.dumps(extensions, separators=(",", ":"))
    return f"{base}/graphql?{urlencode(params, quote_via=quote)}"


def persisted(query: str) -> dict[str, Any]:
    digest = hashlib.sha256(query.encode()).hexdigest()
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


# --- set-up -----------------------------------------------------------------------------------


async def fill_catalog(http: httpx.AsyncClient, admin: str) -> None:
    """Products up to a full page of ``PAGE`` (the demo catalog has 27)."""
    found = await graphql(http, "{ products(first: 100) { edges { node { id } } } }")
    have = len(found["products"]["edges"])  # type: ignore[index]
    for n in range(have, PAGE):
        made = await graphql(
            http,
            PRODUCT_UPSERT,
            {
                "input": {
                    "sku": f"BENCH-{n:03d}",
                    "title": f"Bench item {n}",
                    "category": "bench",
                    "price": 10_000 + 137 * n,
                    "gstRateBp": 1800,
                    "stock": 1_000_000,
                }
            },
            token=admin,
        )
        if made["productUpsert"]["errors"]:  # type: ignore[index]
            raise BenchError(f"productUpsert: {made}")


async def answer_of(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(url, headers=headers)


async def hot_target(base: str) -> tuple[Target, str]:
    """The hot catalog page by Apollo's protocol: the hash alone; on
    PERSISTED_QUERY_NOT_FOUND the hash with the query (registers it), then the hash alone
    again. A project without APQ gets the full query (GET), with the cache as configured."""
    extensions = persisted(CATALOG_QUERY)
    hashed = get_url(base, "", extensions)
    first = await answer_of(hashed)
    if _answers_data(first):
        return Target(hashed), "persisted query (hash only)"
    if "PERSISTED_QUERY_NOT_FOUND" in first.text:
        registered = await answer_of(get_url(base, CATALOG_QUERY, extensions))
        if _answers_data(registered) and _answers_data(await answer_of(hashed)):
            return Target(hashed), "persisted query (hash only)"
    return Target(get_url(base, CATALOG_QUERY)), "full query (no APQ in the project)"


def _answers_data(response: httpx.Response) -> bool:
    if response.status_code != 200:
        return False
    with contextlib.suppress(ValueError):
        body = response.json()
        return bool(body.get("data")) and not body.get("errors")
    return False


async def same_data(name: str, target: Target, expected: Any) -> None:
    """The variant answers 200, no errors, and the project's ``data`` (extensions may differ:
    the project adds its own)."""
    answer = await answer_of(target.url, target.headers)
    if answer.status_code != 200:
        raise BenchError(f"{name}: HTTP {answer.status_code}: {answer.text[:300]}")
    found = answer.json()
    if found.get("errors") or found.get("data") != expected:
        raise BenchError(f"{name} answers other data than the project:\n{answer.text[:600]}")


async def sql_per_page(settings: Settings) -> dict[str, Any]:
    """SQL statements per catalog page, by page size, in-process (StatementCounter on the
    engine; the response cache off, so each page runs its resolvers)."""
    container = Container(settings.model_copy(update={"response_cache_enabled": False}))
    try:
        transport = httpx.ASGITransport(app=create_app(container))
        counts: dict[str, int] = {}
        with contextlib.redirect_stdout(io.StringIO()):  # the app's metric lines
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                await graphql(http, catalog_query(5))  # pools, caches, JWKS: not counted
                for size in SQL_PAGE_SIZES:
                    with StatementCounter(container.engine) as counter:
                        await graphql(http, catalog_query(size))
                    counts[str(size)] = counter.count
    finally:
        await container.aclose()
    return {"statements_by_page_size": counts, "constant": len(set(counts.values())) == 1}


# --- load -------------------------------------------------------------------------------------


def phase(what: str, since: float) -> None:
    print(f"bench: {what} ({time.perf_counter() - since:.0f} s in)", flush=True)


def measure_load(
    variants: dict[str, Target], *, seconds: float, rounds: int
) -> dict[str, dict[str, Any]]:
    """Every variant at every concurrency, ``rounds`` times, the variants' order reversed
    every round; a short warm-up of each first."""
    for target in variants.values():
        run_wrk(target, connections=8, seconds=1)
    runs: dict[str, dict[int, list[WrkResult]]] = {
        name: {c: [] for c in CONCURRENCY} for name in variants
    }
    names = list(variants)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else list(reversed(names)):
            for connections in CONCURRENCY:
                found = run_wrk(variants[name], connections=connections, seconds=seconds)
                if found.errors:
                    raise BenchError(f"{name} at c={connections}: {found.errors} errors")
                runs[name][connections].append(found)
    return {
        name: {str(c): report.aggregate(results) for c, results in by_c.items()}
        for name, by_c in runs.items()
    }


def leak_check(
    process: Process, target: Target, *, requests: int, requests_per_s: float
) -> dict[str, Any]:
    """RSS of the project process after ``requests / 10`` requests and after ``requests``
    (wrk runs by duration: chunks sized from the measured throughput, counted until reached)."""
    early = requests // 10
    sent = 0
    rate = requests_per_s

    def drive_to(goal: int) -> None:
        nonlocal sent, rate
        while sent < goal:
            seconds = max(1, math.floor((goal - sent) / max(rate, 1.0)))
            found = run_wrk(target, connections=8, seconds=seconds)
            if found.errors:
                raise BenchError(f"leak check: {found.errors} errors")
            sent += found.requests
            rate = found.requests_per_s  # the next chunk sized from what this one did

    started = time.perf_counter()
    drive_to(early)
    rss_early, sent_early = process.rss_kib(), sent
    drive_to(requests)
    rss_late = process.rss_kib()
    return {
        "requests_early": sent_early,
        "requests_total": sent,
        "rss_early_kib": rss_early,
        "rss_late_kib": rss_late,
        "growth": rss_late / rss_early - 1,
        "seconds": round(time.perf_counter() - started, 1),
    }


# --- the run ----------------------------------------------------------------------------------


async def benchmark(stack: Stack, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    logs = stack.logs
    hot = uvicorn_process(
        "project (hot)",
        "app.main:create_app",
        env=stack.env(response_cache_enabled="true"),
        log=logs / "project-hot.log",
    )
    cold = uvicorn_process(
        "project (cold)",
        "app.main:create_app",
        env=stack.env(response_cache_enabled="false"),
        log=logs / "project-cold.log",
    )
    processes: list[Process] = [hot.start(), cold.start()]
    try:
        admin_token, _ = stack.new_user("admin")
        customer_token, _ = stack.new_user()
        async with httpx.AsyncClient(base_url=cold.url, timeout=30) as http:
            await fill_catalog(http, admin_token)
            catalog = await graphql(http, CATALOG_QUERY)
            edges = catalog["products"]["edges"]  # type: ignore[index]
            if len(edges) != PAGE:
                raise BenchError(f"the catalog page has {len(edges)} products, not {PAGE}")
            ids = [edge["node"]["id"] for edge in edges]
            # checkouts reserve stock: a product of the run's own, with a million on hand
            stocked = next(e["node"]["id"] for e in edges if e["node"]["category"] == "bench")
            lines = [{"productId": i, "quantity": n} for n, i in enumerate(ids[:3], start=1)]
            await graphql(http, ADD_LINES, {"lines": lines}, token=customer_token)
            cart = await graphql(http, CART_QUERY, token=customer_token)
        page_body = (await answer_of(get_url(cold.url, CATALOG_QUERY))).content
        (work / "body.json").write_bytes(page_body)
        (work / "data.json").write_text(json.dumps({"catalog": catalog, "cart": cart}))
        raw = uvicorn_process(
            "raw starlette",
            "bench.baselines.raw_starlette:create_app",
            env=os.environ | {"BENCH_BODY_FILE": str(work / "body.json")},
            log=logs / "raw.log",
        )
        best = uvicorn_process(
            "strawberry best case",
            "bench.baselines.strawberry_best:create_app",
            env=os.environ | {"BENCH_DATA_FILE": str(work / "data.json")},
            log=logs / "strawberry.log",
        )
        processes += [raw.start(), best.start()]

        hot_page, hot_mode = await hot_target(hot.url)
        bearer = {"authorization": f"Bearer {customer_token}"}
        catalog_variants = {
            "raw_starlette": Target(get_url(raw.url, CATALOG_QUERY)),
            "strawberry_best": Target(get_url(best.url, CATALOG_QUERY)),
            "project_hot": hot_page,
            "project_cold": Target(get_url(cold.url, CATALOG_QUERY)),
        }
        cart_variants = {
            "strawberry_best_cart": Target(get_url(best.url, CART_QUERY), headers=bearer),
            "project_cart": Target(get_url(hot.url, CART_QUERY), headers=bearer),
        }
        if (await answer_of(catalog_variants["raw_starlette"].url)).content != page_body:
            raise BenchError("raw Starlette does not answer the project's bytes")
        for name, target in catalog_variants.items():
            await same_data(name, target, catalog)
        for name, target in cart_variants.items():
            await same_data(name, target, cart)

        phase("constant SQL per page …", started)
        sql = await sql_per_page(stack.settings)

        phase(f"load, {args.rounds} rounds × {args.seconds} s per point …", started)
        load = await asyncio.to_thread(
            measure_load,
            catalog_variants | cart_variants,
            seconds=args.seconds,
            rounds=args.rounds,
        )

        phase(f"leak check, {args.leak_requests} requests …", started)
        # the hot page if the project serves it fast enough for the budget, else a request
        # through the whole stack that runs no resolver
        leak_target, leak_query = hot_page, f"the hot catalog page ({hot_mode})"
        hot_rate = load["project_hot"]["8"]["requests_per_s"]
        if args.leak_requests / hot_rate > LEAK_BUDGET_SECONDS:
            leak_target = Target(get_url(hot.url, "{ __typename }"))
            leak_query = "{ __typename } (the hot page is too slow for the leak budget)"
            hot_rate = 0.0
        leak = await asyncio.to_thread(
            leak_check,
            hot,
            leak_target,
            requests=args.leak_requests,
            requests_per_s=hot_rate or 2000.0,
        )
        leak["query"] = f"{leak_query}, 8 connections"

        phase(f"checkout, {args.checkout} iterations …", started)
        n = args.checkout + 2
        app_users = [stack.new_user() for _ in range(n)]
        floor_users = [stack.new_user() for _ in range(n)]
        container = Container(stack.settings)
        try:
            async with httpx.AsyncClient(base_url=hot.url, timeout=30) as http:
                checkout = await checkout_vs_floor(
                    http=http,
                    container=container,
                    app_tokens=[t for t, _ in app_users],
                    floor_subjects=[s for _, s in floor_users],
                    floor_tokens=[t for t, _ in floor_users],
                    product_id=stocked,
                )
        finally:
            await container.aclose()
    finally:
        for process in processes:
            process.stop()

    phase(f"cold starts, {args.cold_starts} each …", started)
    project_env = stack.env()
    starts = await asyncio.to_thread(
        cold_starts,
        {
            "project": ("app.lambda_handler", project_env),
            "bare": ("bench.baselines.lambda_bare", dict(os.environ)),
        },
        runs=args.cold_starts,
    )
    return {
        "benchmark": "gateway",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "machine": machine(stack.postgres_version),
        "settings": {
            "seconds_per_point": args.seconds,
            "rounds": args.rounds,
            "concurrency": list(CONCURRENCY),
            "checkout_iterations": args.checkout,
            "cold_starts": args.cold_starts,
            "leak_requests": args.leak_requests,
            "load_generator": "wrk -t1",
        },
        "queries": {"catalog": CATALOG_QUERY, "cart": CART_QUERY},
        "hot_mode": hot_mode,
        "page_bytes": len(page_body),
        "load": load,
        "sql_per_page": sql,
        "leak": leak,
        "checkout": checkout,
        "cold_start": starts,
        "elapsed_seconds": round(time.perf_counter() - started, 1),
    }


def git_commit() -> str | None:
    with contextlib.suppress(OSError):
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        if found.returncode == 0:
            return found.stdout.strip() or None
    return None


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine(postgres_version: str) -> dict[str, Any]:
    wrk_version = ""
    if executable := wrk_path():
        with contextlib.suppress(OSError):
            done = subprocess.run([executable, "-v"], capture_output=True, text=True)
            wrk_version = (done.stdout or done.stderr).splitlines()[0] if done else ""
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgresql": postgres_version,
        "wrk": wrk_version,
    }


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="storefront-bench-") as found:
        path = Path(found)
        (path / "logs").mkdir()
        yield path


async def run_all(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    logs = work / "logs"
    # dummy credentials: every AWS client of the run talks to the emulator on loopback
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-south-1")
    with (
        postgres_server_url() as postgres_url,
        redis_server_url() as redis_url,
        emulator(logs) as emulator_url,
        razorpay_sandbox(logs) as razorpay_url,
    ):
        async with open_stack(
            postgres_url=postgres_url,
            redis_url=redis_url,
            emulator_url=emulator_url,
            razorpay_url=razorpay_url,
            logs=logs,
        ) as stack:
            return await benchmark(stack, args, work)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=_positive, default=2, help="wrk seconds per point")
    parser.add_argument("--rounds", type=_positive, default=2, help="alternating rounds")
    parser.add_argument("--checkout", type=_positive, default=30, help="checkout iterations")
    parser.add_argument("--cold-starts", type=_positive, default=5, help="processes per variant")
    parser.add_argument("--leak-requests", type=_positive, default=20_000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON result file")
    parser.add_argument("--no-plots", action="store_true", help="no PNGs, no RESULTS.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--pairs" in argv:
        from bench import pairs

        argv.remove("--pairs")
        return pairs.main(argv)
    args = parse_args(argv)
    if wrk_path() is None:
        print("bench: wrk is not installed (apt-get install wrk; make bench does)", file=sys.stderr)
        return 3
    started = time.perf_counter()
    try:
        with workdir() as work:
            try:
                result = asyncio.run(run_all(args, work))
            except BenchError:
                for log in sorted((work / "logs").glob("*.log")):
                    tail = log.read_text(errors="replace").splitlines()[-15:]
                    print(f"--- {log.name}\n" + "\n".join(tail), file=sys.stderr)
                raise
    except pytest.exit.Exception as exc:  # a server is neither running nor installed
        print(f"bench: {exc.msg}", file=sys.stderr)
        return 3
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    result["goals"] = report.goals(result)
    print(report.render(result))
    report.write_json(result, args.out)
    if not args.no_plots:
        report.plots(result, args.out.parent)
        report.results_md(result, args.out.parent)
    print(f"\nwritten to {args.out} in {result['total_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
