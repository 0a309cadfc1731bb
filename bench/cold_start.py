"""Lambda cold start: import the handler and answer one ``{ __typename }`` in a fresh process.

    python -m bench.cold_start [--runs N] [--json]

Each run is a new interpreter (``python -c``) that imports a handler module, answers one API
Gateway HTTP API (v2) event with it, and reports how long that took and its peak memory
(``ru_maxrss``). Two handlers, alternated run after run so whatever the machine does meanwhile
hits both alike:

- ``project``: ``app.lambda_handler.handler``, the app as Lambda runs it, with a local
  environment: PostgreSQL and Redis on loopback, the AWS endpoint on a closed port (a
  ``{ __typename }`` needs no database and no AWS; it is charged to the rate limits in Redis),
  tracing off (as in SAM local: no X-Ray daemon here);
- ``bare``: ``bench.baselines.bare_lambda.handler``, Strawberry on Starlette behind Mangum.

Figures (medians over the runs): ``seconds``, the wall clock from the process's start to its
answer (the interpreter's own start-up included, as in a Lambda init); ``import_seconds`` and
``answer_seconds``, the two parts of it inside the process; ``process_seconds``, until the
process exited (its shut-down too, which a warm Lambda never pays); ``max_rss_mib``, the
peak resident memory (``ru_maxrss``).
``--json`` prints ``{"project": {...}, "bare": {...}, "ratio": {...}}`` and nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENT_FILE = ROOT.parent / "shared" / "aws-events" / "apiGatewayProxyV2Event.json"  # ../shared
MARKER = "COLD_START_RESULT "

HANDLERS = {
    "project": "app.lambda_handler",
    "bare": "bench.baselines.bare_lambda",
}

# API Gateway HTTP API v2, as AWS's sample (Powertools' tests/events) with the body replaced
SAMPLE_EVENT: dict[str, Any] = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/graphql",
    "rawQueryString": "",
    "cookies": [],
    "headers": {"content-type": "application/json", "accept": "application/json"},
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "api-id",
        "domainName": "id.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "id",
        "http": {
            "method": "POST",
            "path": "/graphql",
            "protocol": "HTTP/1.1",
            "sourceIp": "192.168.0.1/32",
            "userAgent": "agent",
        },
        "requestId": "cold-start-1",
        "routeKey": "$default",
        "stage": "$default",
        "time": "12/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1583348638390,
    },
    "isBase64Encoded": False,
}

# what the child runs: nothing imported before the clock starts but the standard library
CHILD = """
import json, resource, sys, time
started = time.perf_counter()
import importlib
module = importlib.import_module(sys.argv[1])
imported = time.perf_counter()
class Context:
    function_name = "storefront-gateway-cold-start"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:ap-south-1:123456789012:function:cold-start"
    memory_limit_in_mb = 512
    aws_request_id = "cold-start-invocation"
    log_group_name = "/aws/lambda/cold-start"
    log_stream_name = "2020/03/12/[$LATEST]cold"
    def get_remaining_time_in_millis(self):
        return 30000
answer = module.handler(json.loads(sys.argv[2]), Context())
answered = time.perf_counter()
answered_at = time.time()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(sys.argv[3] + json.dumps({
    "import_seconds": imported - started,
    "answer_seconds": answered - imported,
    "answered_at": answered_at,
    "max_rss_kib": peak,
    "status": answer.get("statusCode"),
    "body": answer.get("body"),
}), flush=True)
"""


def event(query: str = "{ __typename }") -> dict[str, Any]:
    if EVENT_FILE.is_file():  # the real sample, path/method/headers/body replaced
        sample: dict[str, Any] = json.loads(EVENT_FILE.read_text())
        sample.update(rawPath="/graphql", rawQueryString="", isBase64Encoded=False)
        sample["headers"] = dict(SAMPLE_EVENT["headers"])
        sample.pop("queryStringParameters", None)
        sample["requestContext"]["http"].update(method="POST", path="/graphql")
        sample["requestContext"]["requestId"] = "cold-start-1"
    else:
        sample = json.loads(json.dumps(SAMPLE_EVENT))
    sample["body"] = json.dumps({"query": query})
    return sample


def environment(*, database_url: str, redis_url: str) -> dict[str, str]:
    """A Lambda-like environment on loopback; nothing of the caller's settings leaks in."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TZ"}}
    return keep | {
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "ENVIRONMENT": "local",
        "LOG_LEVEL": "INFO",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # closed: nothing may need AWS
        "AWS_REGION": "ap-south-1",
        "AWS_DEFAULT_REGION": "ap-south-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_LAMBDA_FUNCTION_NAME": "storefront-gateway-cold-start",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "GRAPHIQL_ENABLED": "false",
        "INTROSPECTION_ENABLED": "false",
        "CORS_ALLOWED_ORIGINS": "https://shop.example.test",
    }


def run_once(name: str, *, env: dict[str, str], python: str = sys.executable) -> dict[str, Any]:
    started_at, started = time.time(), time.perf_counter()
    done = subprocess.run(
        [python, "-c", CHILD, HANDLERS[name], json.dumps(event()), MARKER],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    process_seconds = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{name} failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len(MARKER) :])
    body = json.loads(result["body"] or "{}")
    if result["status"] != 200 or (body.get("data") or {}).get("__typename") != "Query":
        raise RuntimeError(f"{name} answered {result['status']}: {result['body']}")
    return {
        "seconds": result["answered_at"] - started_at,
        "process_seconds": process_seconds,
        "import_seconds": result["import_seconds"],
        "answer_seconds": result["answer_seconds"],
        "max_rss_mib": result["max_rss_kib"] / 1024,
    }


def measure(*, runs: int, env: dict[str, str]) -> dict[str, Any]:
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in HANDLERS}
    for _ in range(runs):
        for name in HANDLERS:
            samples[name].append(run_once(name, env=env))
    summary: dict[str, Any] = {}
    for name, runs_of in samples.items():
        summary[name] = {
            key: round(statistics.median(r[key] for r in runs_of), 4) for key in runs_of[0]
        } | {"runs": len(runs_of)}
    project, bare = summary["project"], summary["bare"]
    summary["ratio"] = {
        "seconds": round(project["seconds"] / bare["seconds"], 2),
        "max_rss_mib": round(project["max_rss_mib"] / bare["max_rss_mib"], 2),
    }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per handler")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    args = parser.parse_args(argv)
    summary = measure(
        runs=args.runs, env=environment(database_url=args.database_url, redis_url=args.redis_url)
    )
    if args.json:
        print(json.dumps(summary))
        return 0
    for name in HANDLERS:
        figures = summary[name]
        print(
            f"{name:8s} {figures['seconds']:.3f} s (import {figures['import_seconds']:.3f} s, "
            f"answer {figures['answer_seconds']:.3f} s), {figures['max_rss_mib']:.1f} MiB peak"
        )
    ratio = summary["ratio"]
    print(f"project/bare: {ratio['seconds']}× the time, {ratio['max_rss_mib']}× the memory")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
