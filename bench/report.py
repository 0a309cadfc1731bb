"""The benchmark's figures: aggregation, the goals, the printed table, JSON, plots, RESULTS.md."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from bench.load import WrkResult

TEMPLATE = Path(__file__).resolve().parent / "RESULTS.template.md"

# name, what, candidate, baseline, kind, limit
GOALS: tuple[tuple[str, str, str, str, str, float], ...] = (
    ("hot", "hot catalog page vs raw Starlette", "project_hot", "raw_starlette", "min", 0.7),
    ("cold", "catalog, cache off, vs Strawberry", "project_cold", "strawberry_best", "min", 0.8),
    (
        "signed_in",
        "signed-in cart vs Strawberry",
        "project_cart",
        "strawberry_best_cart",
        "min",
        0.5,
    ),
)


def aggregate(results: list[WrkResult]) -> dict[str, float]:
    """One point (variant, concurrency) over its rounds: throughput over all requests, and the
    median of each round's latency percentiles."""
    requests = sum(r.requests for r in results)
    seconds = sum(r.seconds for r in results)
    return {
        "requests": requests,
        "seconds": round(seconds, 2),
        "requests_per_s": round(requests / seconds, 1) if seconds else 0.0,
        "p50_ms": round(statistics.median(r.p50_ms for r in results), 3),
        "p90_ms": round(statistics.median(r.p90_ms for r in results), 3),
        "p99_ms": round(statistics.median(r.p99_ms for r in results), 3),
        "bytes_per_request": round(sum(r.bytes for r in results) / requests) if requests else 0,
    }


def peak(load: dict[str, Any], name: str) -> tuple[float, str]:
    """The variant's best throughput over the concurrencies, and where."""
    best = max(load[name].items(), key=lambda item: item[1]["requests_per_s"])
    return float(best[1]["requests_per_s"]), best[0]


def goals(result: dict[str, Any]) -> list[dict[str, Any]]:
    load = result["load"]
    found: list[dict[str, Any]] = []
    for name, what, candidate, baseline, kind, limit in GOALS:
        mine, at = peak(load, candidate)
        theirs, their_at = peak(load, baseline)
        per_c = {
            c: round(load[candidate][c]["requests_per_s"] / load[baseline][c]["requests_per_s"], 3)
            for c in load[candidate]
        }
        ratio = mine / theirs
        found.append(
            {
                "goal": name,
                "what": f"{what}: peak req/s {mine:.0f} (c={at}) / {theirs:.0f} (c={their_at})",
                "ratio": round(ratio, 3),
                "target": f">= {limit}",
                "met": ratio >= limit if kind == "min" else ratio <= limit,
                "ratio_per_concurrency": per_c,
            }
        )
    checkout = result["checkout"]
    found.append(
        {
            "goal": "checkout",
            "what": (
                f"paymentSessionCreate median {checkout['app']['median_ms']:.1f} ms / I/O floor "
                f"{checkout['floor']['median_ms']:.1f} ms"
            ),
            "ratio": round(checkout["ratio_median"], 3),
            "target": "<= 2.0",
            "met": checkout["ratio_median"] <= 2.0,
        }
    )
    project, bare = result["cold_start"]["project"], result["cold_start"]["bare"]
    time_ratio = project["median_wall_s"] / bare["median_wall_s"]
    rss_ratio = project["median_max_rss_kib"] / bare["median_max_rss_kib"]
    found += [
        {
            "goal": "cold_start_time",
            "what": (
                f"import + first answer, median {project['median_wall_s'] * 1000:.0f} ms / bare "
                f"{bare['median_wall_s'] * 1000:.0f} ms (process spawn to exit)"
            ),
            "ratio": round(time_ratio, 3),
            "target": "<= 1.5",
            "met": time_ratio <= 1.5,
        },
        {
            "goal": "cold_start_memory",
            "what": (
                f"peak RSS, median {project['median_max_rss_kib'] / 1024:.0f} MiB / bare "
                f"{bare['median_max_rss_kib'] / 1024:.0f} MiB"
            ),
            "ratio": round(rss_ratio, 3),
            "target": "<= 2.0",
            "met": rss_ratio <= 2.0,
        },
    ]
    leak = result["leak"]
    found.append(
        {
            "goal": "no_leaks",
            "what": (
                f"RSS after {leak['requests_total']} requests {leak['rss_late_kib'] / 1024:.1f} "
                f"MiB / after {leak['requests_early']} {leak['rss_early_kib'] / 1024:.1f} MiB"
            ),
            "ratio": round(leak["rss_late_kib"] / leak["rss_early_kib"], 3),
            "target": "within 10 %",
            "met": abs(leak["growth"]) <= 0.10,
        }
    )
    sql = result["sql_per_page"]
    found.append(
        {
            "goal": "constant_sql",
            "what": "SQL statements per catalog page by page size: "
            + ", ".join(f"first {k}: {v}" for k, v in sql["statements_by_page_size"].items()),
            "ratio": None,
            "target": "the same for every size",
            "met": sql["constant"],
        }
    )
    return found


def goals_table(result: dict[str, Any]) -> str:
    rows = ["| goal | ratio | target | met | figures |", "|---|---:|---|---|---|"]
    for g in result["goals"]:
        ratio = "" if g["ratio"] is None else f"{g['ratio']:.3f}"
        met = "met" if g["met"] else "**not met**"
        rows.append(f"| {g['goal']} | {ratio} | {g['target']} | {met} | {g['what']} |")
    return "\n".join(rows)


def load_table(result: dict[str, Any]) -> str:
    rows = [
        "| variant | c | req/s | p50 ms | p90 ms | p99 ms | bytes/req |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, by_c in result["load"].items():
        for c, point in by_c.items():
            rows.append(
                f"| {name} | {c} | {point['requests_per_s']:.1f} | {point['p50_ms']:.2f} | "
                f"{point['p90_ms']:.2f} | {point['p99_ms']:.2f} | {point['bytes_per_request']} |"
            )
    return "\n".join(rows)


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"gateway benchmark at {result['git_commit']}: {m['cpu']} ({m['cpu_count']} CPUs), "
        f"Python {m['python']}, PostgreSQL {m['postgresql']}",
        f"hot variant: {result['hot_mode']}",
        "",
        f"{'variant':22}{'c':>4}{'req/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}",
    ]
    for name, by_c in result["load"].items():
        for c, p in by_c.items():
            lines.append(
                f"{name:22}{c:>4}{p['requests_per_s']:>10.1f}{p['p50_ms']:>9.2f}"
                f"{p['p90_ms']:>9.2f}{p['p99_ms']:>9.2f}"
            )
    lines += ["", f"{'goal':18}{'ratio':>8}  {'target':26}{'':10}figures"]
    for g in result["goals"]:
        ratio = "" if g["ratio"] is None else f"{g['ratio']:.3f}"
        met = "met" if g["met"] else "NOT MET"
        lines.append(f"{g['goal']:18}{ratio:>8}  {g['target']:26}{met:10}{g['what']}")
    return "\n".join(lines)


def write_json(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".tmp")  # never a half-written result file
    partial.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(out)


def plots(result: dict[str, Any], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    load = result["load"]
    names = list(load)
    concurrencies = list(next(iter(load.values())))
    title = f"commit {result['git_commit']}, {result['machine']['cpu_count']} CPUs"

    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(concurrencies)
    for k, c in enumerate(concurrencies):
        xs = [i + (k - (len(concurrencies) - 1) / 2) * width for i in range(len(names))]
        ax.bar(xs, [load[n][c]["requests_per_s"] for n in names], width, label=f"c={c}")
    ax.set_xticks(range(len(names)), names, rotation=15)
    ax.set_ylabel("requests / s (wrk, 1 thread)")
    ax.set_title(f"Throughput per variant ({title})")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    throughput = folder / "throughput.png"
    fig.savefig(throughput, dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.5), sharey=False)
    for ax, pct in zip(axes, ("p50_ms", "p90_ms", "p99_ms"), strict=True):
        for name in names:
            ax.plot(
                [int(c) for c in concurrencies],
                [load[name][c][pct] for c in concurrencies],
                marker="o",
                label=name,
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks([int(c) for c in concurrencies], concurrencies)
        ax.set_xlabel("connections")
        ax.set_ylabel(f"{pct.removesuffix('_ms')} latency, ms")
        ax.set_title(pct.removesuffix("_ms"))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Latency percentiles against concurrency ({title})")
    fig.tight_layout()
    latency = folder / "latency.png"
    fig.savefig(latency, dpi=110)
    plt.close(fig)
    return [throughput, latency]


def results_md(result: dict[str, Any], folder: Path) -> Path:
    """bench/RESULTS.md from bench/RESULTS.template.md, next to the results folder."""
    m, s = result["machine"], result["settings"]
    project, bare = result["cold_start"]["project"], result["cold_start"]["bare"]
    checkout, leak = result["checkout"], result["leak"]
    fields = {
        "commit": result["git_commit"] or "unknown",
        "recorded_at": result["recorded_at"],
        "cpu": m["cpu"],
        "cpu_count": str(m["cpu_count"]),
        "python": m["python"],
        "postgresql": m["postgresql"],
        "wrk": m["wrk"],
        "total_seconds": str(result.get("total_seconds", result["elapsed_seconds"])),
        "settings": (
            f"{s['seconds_per_point']} s per point, {s['rounds']} rounds, connections "
            f"{', '.join(map(str, s['concurrency']))}; {s['checkout_iterations']} checkouts; "
            f"{s['cold_starts']} cold starts per variant; {s['leak_requests']} leak requests"
        ),
        "hot_mode": result["hot_mode"],
        "page_bytes": str(result["page_bytes"]),
        "goals_table": goals_table(result),
        "load_table": load_table(result),
        "checkout": (
            f"app median {checkout['app']['median_ms']:.1f} ms "
            f"(p90 {checkout['app']['p90_ms']:.1f}), "
            f"floor median {checkout['floor']['median_ms']:.1f} ms "
            f"(p90 {checkout['floor']['p90_ms']:.1f}), {checkout['floor_sql_statements']:.0f} SQL "
            f"statements in the floor, n = {checkout['app']['n']} each"
        ),
        "cold_start": (
            f"project: {project['median_wall_s'] * 1000:.0f} ms spawn to exit (import "
            f"{project['median_import_s'] * 1000:.0f} ms, first answer "
            f"{project['median_first_answer_s'] * 1000:.0f} ms), peak RSS "
            f"{project['median_max_rss_kib'] / 1024:.1f} MiB; bare: "
            f"{bare['median_wall_s'] * 1000:.0f} ms (import {bare['median_import_s'] * 1000:.0f} "
            f"ms, first answer {bare['median_first_answer_s'] * 1000:.0f} ms), peak RSS "
            f"{bare['median_max_rss_kib'] / 1024:.1f} MiB; medians of {project['runs']}"
        ),
        "leak": (
            f"{leak['rss_early_kib'] / 1024:.1f} MiB after {leak['requests_early']} requests, "
            f"{leak['rss_late_kib'] / 1024:.1f} MiB after {leak['requests_total']} "
            f"({leak['growth'] * 100:+.1f} %; {leak['query']})"
        ),
    }
    text = TEMPLATE.read_text(encoding="utf-8")
    for key, value in fields.items():
        text = text.replace("{{" + key + "}}", value)
    out = folder.parent / "RESULTS.md"
    out.write_text(text, encoding="utf-8")
    return out
