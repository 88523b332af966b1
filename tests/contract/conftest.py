"""The contract suite's fixture: every harness in `HARNESSES`, started fresh for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.harness import HARNESSES, SystemHarness


@pytest.fixture(params=[pytest.param(h, id=h.name, marks=[getattr(pytest.mark, m) for m in h.marks])
                        for h in HARNESSES])
def system(request: pytest.FixtureRequest) -> Iterator[SystemHarness]:
    harness = request.param()
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


def need(system: SystemHarness, *features: str) -> None:
    """Skip unless the system has every one of `features` (see `harness` for their meaning)."""
    missing = [f for f in features if f not in system.features]
    if missing:
        pytest.skip(f"{system.name} lacks {', '.join(missing)}")
