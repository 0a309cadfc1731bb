"""The fuzz tests' app: a real uvicorn process on the module's stores, as in production (its
own event loop and sockets, so a crash or a hang shows as what a client would see)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.support.app_process import AppProcess, app_env
from tests.support.fuzz import Tally


@pytest.fixture(scope="module")
def live_app(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    log = Path(tmp_path_factory.mktemp("fuzz")) / "app.log"
    # the fuzzer sends far more than any one caller may: limits would answer 429 to most of it
    app = AppProcess(app_env(settings, rate_limits_enabled=False), log=log).start()
    try:
        yield app
    finally:
        app.stop()
    problems = [line for line in app.log().splitlines() if "Traceback" in line]
    assert not problems, app.log()[-5000:]


@pytest.fixture(scope="module")
def http(live_app: AppProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_app.base_url, timeout=30, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    counts = Tally()
    yield counts
    print("\nfuzz tally:", counts.report())  # the figures the closing note reports
