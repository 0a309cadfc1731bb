"""Baseline (a): raw Starlette answering ``/graphql`` (GET or POST) with a constant: exactly the
bytes the project answered for the catalog page, read once from ``BENCH_BODY_FILE``.

    BENCH_BODY_FILE=body.json uvicorn bench.baselines.raw_starlette:create_app --factory
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def create_app() -> Starlette:
    body = Path(os.environ["BENCH_BODY_FILE"]).read_bytes()

    async def graphql(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/graphql", graphql, methods=["GET", "POST"])])
