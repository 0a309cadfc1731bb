"""The benchmark's pure helpers: wrk's summary line, aggregation over rounds, the goals."""

from __future__ import annotations

import pytest

from bench.load import WrkResult, parse_wrk
from bench.report import aggregate, goals

WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:8000/graphql
  1 threads and 8 connections
  500 requests in 2.00s, 1.00MB read
BENCH_JSON {"requests": 500, "duration_us": 2000000, "bytes": 1000000, "errors": {"connect": 0, \
"read": 1, "write": 0, "status": 2, "timeout": 0}, "latency_us": {"p50": 1500.0, "p90": 3000.0, \
"p99": 9000.0, "mean": 1800.0, "max": 12000.0}}
"""


def test_parse_wrk_reads_the_summary_line() -> None:
    found = parse_wrk(WRK_OUTPUT)
    assert found.requests == 500
    assert found.seconds == 2.0
    assert found.requests_per_s == 250.0
    assert found.errors == 3
    assert (found.p50_ms, found.p90_ms, found.p99_ms) == (1.5, 3.0, 9.0)


def test_parse_wrk_without_the_summary_line_says_so() -> None:
    with pytest.raises(ValueError, match="BENCH_JSON"):
        parse_wrk("Running 2s test\n")


def _result(requests: int, p50: float) -> WrkResult:
    return WrkResult(
        requests=requests,
        seconds=2.0,
        bytes=requests * 10,
        errors=0,
        p50_ms=p50,
        p90_ms=p50 * 2,
        p99_ms=p50 * 4,
        mean_ms=p50,
    )


def test_aggregate_sums_throughput_and_takes_median_percentiles() -> None:
    point = aggregate([_result(100, 1.0), _result(300, 3.0), _result(200, 2.0)])
    assert point["requests_per_s"] == 100.0  # 600 requests in 6 s
    assert point["p50_ms"] == 2.0
    assert point["p99_ms"] == 8.0
    assert point["bytes_per_request"] == 10


def _point(rps: float) -> dict[str, float]:
    return {"requests_per_s": rps}


def test_goals_compare_peaks_and_limits() -> None:
    load = {
        "raw_starlette": {"1": _point(1000), "8": _point(2000)},
        "project_hot": {"1": _point(1500), "8": _point(1200)},
        "strawberry_best": {"1": _point(100), "8": _point(100)},
        "project_cold": {"1": _point(70), "8": _point(90)},
        "strawberry_best_cart": {"1": _point(100), "8": _point(100)},
        "project_cart": {"1": _point(50), "8": _point(40)},
    }
    start = {"median_wall_s": 1.0, "median_max_rss_kib": 1000.0}
    result = {
        "load": load,
        "checkout": {"app": {"median_ms": 30.0}, "floor": {"median_ms": 20.0}, "ratio_median": 1.5},
        "cold_start": {
            "project": start | {"median_wall_s": 2.0},
            "bare": start,
        },
        "leak": {
            "requests_early": 2000,
            "requests_total": 20000,
            "rss_early_kib": 100_000,
            "rss_late_kib": 111_000,
            "growth": 0.11,
        },
        "sql_per_page": {"statements_by_page_size": {"5": 1, "50": 1}, "constant": True},
    }
    found = {g["goal"]: g for g in goals(result)}
    assert found["hot"]["ratio"] == 0.75 and found["hot"]["met"]  # peak 1500 / peak 2000
    assert found["cold"]["ratio"] == 0.9 and found["cold"]["met"]
    assert found["signed_in"]["ratio"] == 0.5 and found["signed_in"]["met"]
    assert found["checkout"]["met"]
    assert not found["cold_start_time"]["met"] and found["cold_start_memory"]["met"]
    assert not found["no_leaks"]["met"]
    assert found["constant_sql"]["met"]
