"""Test-only job kinds: they record when they ran, so tests can prove what overlapped and what did not."""

from __future__ import annotations

import threading
import time
from typing import Any

from syncworker.jobs.base import JobRequest
from syncworker.services.context import ServiceContext
from syncworker.services.runs import RunRecorder

_lock = threading.Lock()
intervals: list[dict[str, Any]] = []  # {tenant, system, run_id, start, end}
attempts: dict[int, int] = {}  # run id -> times started
DEFAULT_SLEEP = 0.3  # for requests that do not say (scheduled ones)


def reset() -> None:
    with _lock:
        intervals.clear()
        attempts.clear()


def probe(ctx: ServiceContext, request: JobRequest, run_id: int) -> dict[str, Any]:
    """Sleeps `sleep` seconds; raises `fail_with` on its first `fail_times` attempts."""
    p = request.params
    with _lock:
        attempts[run_id] = attempts.get(run_id, 0) + 1
        attempt = attempts[run_id]
    if attempt <= int(p.get("fail_times", 0)):
        raise {"ConnectionError": ConnectionError, "ValueError": ValueError}[p["fail_with"]](f"attempt {attempt} fails")
    start = time.monotonic()
    time.sleep(float(p.get("sleep", DEFAULT_SLEEP)))
    end = time.monotonic()
    with _lock:
        intervals.append({"tenant": request.tenant, "system": p.get("system"), "run_id": run_id,
                          "start": start, "end": end})
    RunRecorder(ctx.db).finish(run_id, "succeeded", counts={"attempts": attempt})
    return {"status": "succeeded"}


def overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]
