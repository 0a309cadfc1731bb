"""Side-by-side measurement: a candidate and its baseline, in interleaved rounds of one run.

Each round runs every pair's two variants one after the other, the order swapped every round,
so whatever the machine does meanwhile (another process, a CPU frequency step, the garbage
collector) lands on both alike. Latency is per operation (one operation may send several HTTP
requests at once); SQL statements are counted on the engine while each batch runs.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from datasources.postgres.engine import StatementCounter

Payload = dict[str, Any]


class BenchError(RuntimeError):
    """A request did not answer as it should: the figures would mean nothing."""


@dataclass(slots=True)
class Variant:
    name: str
    description: str
    client: httpx.AsyncClient
    payloads: tuple[Payload, ...]  # the GraphQL requests one operation sends, all at once
    answer: Callable[[list[Any]], Any]  # the operation's `data`, comparable across the pair
    samples: list[float] = field(default_factory=list)  # seconds per operation
    round_medians: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    statements: int = 0

    async def operation(self) -> list[httpx.Response]:
        posts = [self.client.post("/graphql", json=payload) for payload in self.payloads]
        if len(posts) == 1:
            return [await posts[0]]
        return list(await asyncio.gather(*posts))


@dataclass(slots=True)
class Pair:
    name: str
    question: str
    candidate: Variant
    baseline: Variant
    describe: Callable[[Any], dict[str, int]]  # counts in the answer; each must be above 0
    share: float = 1.0  # of --iterations and --warmup, for each of its variants
    notes: dict[str, Any] = field(default_factory=dict)

    def operations(self, total: int, *, parts: int = 1) -> int:
        """This pair's share of ``total`` operations, split in ``parts``; at least 2."""
        return max(2, round(total * self.share / parts))


def _failed(response: httpx.Response) -> bool:
    # An escaped `"errors"` inside a string value reads `\"errors\"`, so this never misfires.
    return response.status_code != 200 or b'"errors"' in response.content


def data_of(responses: Sequence[httpx.Response]) -> list[Any]:
    for response in responses:
        if _failed(response):
            raise BenchError(f"HTTP {response.status_code}: {response.text[:500]}")
    return [response.json()["data"] for response in responses]


async def check_answers(pair: Pair) -> None:
    """Both variants answer the same, and something: else the comparison is meaningless."""
    candidate = pair.candidate.answer(data_of(await pair.candidate.operation()))
    baseline = pair.baseline.answer(data_of(await pair.baseline.operation()))
    if candidate != baseline:
        raise BenchError(f"{pair.name}: the candidate and the baseline answer differently")
    counts = pair.describe(candidate)
    if not all(counts.values()):
        raise BenchError(f"{pair.name}: nothing to measure: {counts}")
    pair.notes.update(counts)


async def run(variant: Variant, *, operations: int, concurrency: int) -> list[float]:
    """``operations`` operations, at most ``concurrency`` in flight; seconds each."""
    remaining = operations
    samples: list[float] = []

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            responses = await variant.operation()
            samples.append(time.perf_counter() - started)
            if any(_failed(r) for r in responses):
                data_of(responses)  # raises, with the body

    await asyncio.gather(*(worker() for _ in range(min(concurrency, operations))))
    return samples


async def warm_up(pairs: Sequence[Pair], *, operations: int, concurrency: int) -> None:
    for pair in pairs:
        await check_answers(pair)
        for variant in (pair.candidate, pair.baseline):
            await run(variant, operations=pair.operations(operations), concurrency=concurrency)


async def _batch(
    variant: Variant, *, operations: int, concurrency: int, counter: StatementCounter
) -> None:
    gc.collect()  # the previous batch's garbage is not this one's bill
    before = counter.count
    started = time.perf_counter()
    samples = await run(variant, operations=operations, concurrency=concurrency)
    variant.wall_seconds += time.perf_counter() - started
    variant.statements += counter.count - before
    counter.statements.clear()
    variant.samples += samples
    variant.round_medians.append(statistics.median(samples))


async def measure(
    pairs: Sequence[Pair],
    *,
    counter: StatementCounter,
    iterations: int,
    rounds: int,
    concurrency: int,
) -> None:
    """``rounds`` rounds; in each, every pair's variants, candidate first in even rounds."""
    for round_no in range(rounds):
        for pair in pairs:
            operations = pair.operations(iterations, parts=rounds)
            order = (pair.candidate, pair.baseline)
            for variant in order if round_no % 2 == 0 else order[::-1]:
                await _batch(
                    variant, operations=operations, concurrency=concurrency, counter=counter
                )


def _p95(samples: Sequence[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _ratio(candidate: float, baseline: float) -> float | None:
    return round(candidate / baseline, 3) if baseline else None


def summarise(variant: Variant) -> dict[str, Any]:
    operations = len(variant.samples)
    requests = operations * len(variant.payloads)
    return {
        "name": variant.name,
        "description": variant.description,
        "operations": operations,
        "http_requests_per_operation": len(variant.payloads),
        "median_ms": _ms(statistics.median(variant.samples)),
        "p95_ms": _ms(_p95(variant.samples)),
        "operations_per_s": round(operations / variant.wall_seconds, 1),
        "requests_per_s": round(requests / variant.wall_seconds, 1),
        "sql_statements_per_request": round(variant.statements / requests, 3),
        "sql_statements_per_operation": round(variant.statements / operations, 3),
    }


def compare(pair: Pair) -> dict[str, Any]:
    candidate, baseline = summarise(pair.candidate), summarise(pair.baseline)
    keys = ("median_ms", "p95_ms", "operations_per_s", "sql_statements_per_operation")
    per_round = [
        c / b
        for c, b in zip(pair.candidate.round_medians, pair.baseline.round_medians, strict=True)
    ]
    return {
        "name": pair.name,
        "question": pair.question,
        **pair.notes,
        "candidate": candidate,
        "baseline": baseline,
        "ratios": {key: _ratio(candidate[key], baseline[key]) for key in keys},
        "round_median_ratios": {
            "min": round(min(per_round), 3),
            "median": round(statistics.median(per_round), 3),
            "max": round(max(per_round), 3),
        },
    }
