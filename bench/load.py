"""Load generation with wrk (one thread; the connections given), through bench/wrk.lua.

The Lua script sets the method, body and headers from the environment and prints one
``BENCH_JSON {...}`` line when done: requests, duration, bytes, socket and status errors, and
latency percentiles in microseconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent / "wrk.lua"
MARK = "BENCH_JSON "


@dataclass(frozen=True)
class Target:
    """One HTTP request, as wrk sends it over and over."""

    url: str
    method: str = "GET"
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    bytes: int
    errors: int  # connect, read, write, timeout and non-2xx/3xx answers
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def parse_wrk(stdout: str) -> WrkResult:
    """The summary line the Lua ``done`` hook printed."""
    for line in stdout.splitlines():
        if line.startswith(MARK):
            found: dict[str, Any] = json.loads(line[len(MARK) :])
            latency = found["latency_us"]
            return WrkResult(
                requests=int(found["requests"]),
                seconds=found["duration_us"] / 1e6,
                bytes=int(found["bytes"]),
                errors=sum(int(v) for v in found["errors"].values()),
                p50_ms=latency["p50"] / 1000,
                p90_ms=latency["p90"] / 1000,
                p99_ms=latency["p99"] / 1000,
                mean_ms=latency["mean"] / 1000,
            )
    raise ValueError(f"no {MARK.strip()} line in wrk's output:\n{stdout[-2000:]}")


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(
    target: Target,
    *,
    connections: int,
    seconds: float,
    timeout_s: float = 10.0,
) -> WrkResult:
    """wrk with one thread and ``connections`` connections for ``seconds`` (whole seconds)."""
    executable = wrk_path()
    if executable is None:
        raise RuntimeError("wrk is not installed (make bench installs it with apt-get)")
    env = os.environ | {
        "BENCH_METHOD": target.method,
        "BENCH_BODY": target.body,
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in target.headers.items()),
    }
    command = [
        executable,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={round(timeout_s)}s",
        "-s",
        str(SCRIPT),
        target.url,
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + timeout_s + 30
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-1000:]}")
    return parse_wrk(done.stdout)
