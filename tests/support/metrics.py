"""A metrics sink that keeps what was recorded (``resolvers.metrics``), for use-case tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest

from resolvers import metrics
from resolvers.metrics import Unit


@dataclass(frozen=True, slots=True)
class Recorded:
    name: str
    value: float
    unit: Unit
    dimensions: tuple[tuple[str, str], ...] = ()


@dataclass
class RecordingSink:
    recorded: list[Recorded] = field(default_factory=list)

    def record(self, name: str, *, value: float, unit: Unit, dimensions: Mapping[str, str]) -> None:
        self.recorded.append(Recorded(name, value, unit, tuple(sorted(dimensions.items()))))

    def named(self, name: str) -> list[Recorded]:
        return [r for r in self.recorded if r.name == name]

    def names(self) -> list[str]:
        return [r.name for r in self.recorded]


@pytest.fixture
def recorded() -> Iterator[RecordingSink]:
    """Every metric recorded during the test, and the installed sink put back after it."""
    sink = RecordingSink()
    previous = metrics.install(sink)
    try:
        yield sink
    finally:
        metrics.install(previous)
