"""Cold start: import + first answer of ``{ __typename }`` through a Lambda handler, given an API
Gateway HTTP API (v2) event, in a fresh Python process each time.

Each sample is one child process (``python -c CHILD module``) timed from spawn to exit by the
parent (interpreter start-up included, alike for both). The child reports its own import and
first-answer times and its peak memory: ``VmHWM`` of /proc/self/status, the high-water mark of
the process's own memory since ``exec``. (``ru_maxrss`` from ``wait4`` would not do: Linux
carries the forking parent's peak into it, so every child would show the bench's own RSS.)
"""

from __future__ import annotations

import copy
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.stack import BenchError

ROOT = Path(__file__).resolve().parent.parent
EVENT = ROOT / "tests" / "fixtures" / "aws-events" / "apiGatewayProxyV2Event.json"
QUERY = "{ __typename }"

CHILD = """
import importlib, json, sys, time
started = time.perf_counter()
module = importlib.import_module(sys.argv[1])
imported = time.perf_counter()
event = json.loads(sys.argv[2])
result = module.handler(event, None)
answered = time.perf_counter()
body = json.loads(result["body"])
assert result["statusCode"] == 200 and body["data"] == {"__typename": "Query"}, result
status = open("/proc/self/status").read().splitlines()
peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"import_s": imported - started, "first_answer_s": answered - imported,
                  "max_rss_kib": peak}))
"""


def http_api_v2_event(query: str = QUERY) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(json.loads(EVENT.read_text()))
    event.update(
        rawPath="/graphql",
        rawQueryString="",
        body=json.dumps({"query": query}),
        isBase64Encoded=False,
    )
    event["headers"] = {"content-type": "application/json", "accept": "application/json"}
    event.pop("queryStringParameters", None)
    event.pop("cookies", None)
    event["requestContext"]["http"].update(method="POST", path="/graphql")
    return event


def one_start(module: str, *, env: dict[str, str]) -> dict[str, float]:
    """One fresh process: wall seconds spawn→exit, peak RSS (KiB), the child's own timings."""
    event = json.dumps(http_api_v2_event())
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, module, event],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.wait()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        tail = err.decode(errors="replace")[-3000:]
        raise BenchError(f"cold start of {module} failed:\n{tail}")
    inner = json.loads(out.decode().strip().splitlines()[-1])
    return {"wall_s": wall, **inner}


def cold_starts(
    variants: dict[str, tuple[str, dict[str, str]]], *, runs: int
) -> dict[str, dict[str, Any]]:
    """``runs`` fresh processes per variant (name → module, environment), alternating the
    variants; medians of each figure, and the samples."""
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    names = list(variants)
    for run in range(runs):
        for name in names if run % 2 == 0 else reversed(names):
            module, env = variants[name]
            samples[name].append(one_start(module, env=env))
    return {
        name: {
            "runs": runs,
            "module": variants[name][0],
            **{
                f"median_{key}": statistics.median(s[key] for s in found)
                for key in ("wall_s", "import_s", "first_answer_s", "max_rss_kib")
            },
            "samples": found,
        }
        for name, found in samples.items()
    }
