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
# tenant -> an event: its probes wait until the test sets it instead of sleeping, so a test decides when a run
# ends (and what is still busy meanwhile) without timing luck.
holds: dict[str, threading.Event] = {}
HOLD_TIMEOUT = 60.0  # a test that never releases its hold fails instead of hanging


def reset() -> None:
    with _lock:
        intervals.clear()
        attempts.clear()
        holds.clear()


def probe(ctx: ServiceContext, request: JobRequest, run_id: int) -> dict[str, Any]:
    """Sleeps `sleep` seconds (or waits for its tenant's hold); raises `fail_with` on its first `fail_times`
    attempts."""
    p = request.params
    with _lock:
        attempts[run_id] = attempts.get(run_id, 0) + 1
        attempt = attempts[run_id]
    if attempt <= int(p.get("fail_times", 0)):
        raise {"ConnectionError": ConnectionError, "ValueError": ValueError}[p["fail_with"]](f"attempt {attempt} fails")
    start = time.monotonic()
    hold = holds.get(request.tenant)
    if hold is None:
        time.sleep(float(p.get("sleep", DEFAULT_SLEEP)))
    elif not hold.wait(HOLD_TIMEOUT):
        raise TimeoutError(f"the test never released its hold on {request.tenant}")
    end = time.monotonic()
    with _lock:
        intervals.append({"tenant": request.tenant, "system": p.get("system"), "run_id": run_id,
                          "start": start, "end": end})
    RunRecorder(ctx.db).finish(run_id, "succeeded", counts={"attempts": attempt})
    return {"status": "succeeded"}


def overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]
