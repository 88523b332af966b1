"""A simulator's fault plan: faults injected on demand (`inject`) or at random (`random`), taken by the
request pipeline one request at a time (`take`). Each simulator states its own fault kinds and what they
do; the plan only queues, matches and counts them.

A fault without `path_contains` hits the next API calls (never identity endpoints); with it, the next
calls whose path contains that text, identity endpoints included. Kinds listed in `immediate` act once, at
injection (e.g. `revoked`: the user disconnects the app), instead of being queued. Random faults come from
a seeded generator, for soak runs.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

DEFAULT_RANDOM_KINDS: tuple[str, ...] = ("500", "reset", "slow", "minute_429")


@dataclass(slots=True)
class Fault:
    kind: str
    remaining: int
    path_contains: str | None = None
    delay: float | None = None
    retry_after: int | None = None

    def matches(self, path: str, is_identity: bool) -> bool:
        if self.path_contains is None:
            return not is_identity
        return self.path_contains in path


class FaultPlan:
    def __init__(self, kinds: Iterable[str], *, immediate: Mapping[str, Callable[[], object]] | None = None,
                 seed: int = 0) -> None:
        self.kinds: tuple[str, ...] = tuple(kinds)
        self._immediate = dict(immediate or {})
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self._random: tuple[float, tuple[str, ...]] | None = None
        self._rng = random.Random(seed)
        self.fired: Counter[str] = Counter()

    def inject(self, kind: str, times: int = 1, path_contains: str | None = None, *,
               delay: float | None = None, retry_after: int | None = None) -> None:
        if kind not in self.kinds:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(self.kinds)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        if kind in self._immediate:
            self._immediate[kind]()
            with self._lock:
                self.fired[kind] += 1
            return
        with self._lock:
            self._queue.append(Fault(kind, times, path_contains, delay, retry_after))

    def random(self, rate: float, kinds: tuple[str, ...] = DEFAULT_RANDOM_KINDS) -> None:
        """Fire one of `kinds` on each API call with probability `rate` (0 turns it off)."""
        bad = [k for k in kinds if k not in self.kinds or k in self._immediate]
        if bad or not 0 <= rate <= 1:
            raise ValueError(f"bad random fault setting: rate={rate} kinds={bad or kinds}")
        with self._lock:
            self._random = (rate, tuple(kinds)) if rate > 0 else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._random = None

    def pending(self) -> list[dict[str, object]]:
        with self._lock:
            return [{"kind": f.kind, "remaining": f.remaining, "path_contains": f.path_contains} for f in self._queue]

    def take(self, path: str, *, is_identity: bool = False) -> Fault | None:
        """The fault to apply to this request, if any (consumes one of its `times`)."""
        with self._lock:
            for fault in self._queue:
                if fault.matches(path, is_identity):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._queue.remove(fault)
                    self.fired[fault.kind] += 1
                    return fault
            if self._random and not is_identity:
                rate, kinds = self._random
                if self._rng.random() < rate:
                    kind = self._rng.choice(kinds)
                    self.fired[kind] += 1
                    return Fault(kind, 0)
            return None
