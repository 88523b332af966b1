"""The embedded default executor: jobs run on a small thread pool inside this process.

Shutting down (SIGTERM or Ctrl-C on `serve` and `run`): no new job is taken, jobs already accepted (running
or waiting for a thread) get a grace period to finish; what is still unfinished after it is closed as
failed ("interrupted", with the reason) and its tenant lease released, so the tenant is free at once and
the next run resumes from the checkpoints. Nothing is left `running` by a clean stop; the caller then ends
the process (`exit_now`), because the interrupted jobs' threads cannot be stopped from outside."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from syncworker.jobs.base import JobRejected, JobRequest, execute_job, prepare
from syncworker.services.context import ServiceContext
from syncworker.services.locks import INTERRUPTED, release_process_leases
from syncworker.services.runs import RunRecorder
from syncworker.store.db import error_text

log = logging.getLogger(__name__)
DEFAULT_GRACE_SECONDS = 25  # inside the 30 s that Kubernetes and most platforms allow after SIGTERM


class InProcessExecutor:
    def __init__(self, ctx: ServiceContext, *, workers: int = 2) -> None:
        self.ctx = ctx
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="syncworker-job")
        self.futures: dict[int, Future[object]] = {}
        self._started: set[int] = set()
        self._closing = threading.Event()
        self.hurry = threading.Event()  # set (a second signal) to stop waiting for the grace period

    def submit(self, request: JobRequest) -> int:
        if self._closing.is_set():
            raise JobRejected("this process is shutting down and takes no new jobs; submit again when it is back")
        run_id = prepare(self.ctx, request)
        future = self._pool.submit(self._run, request, run_id)
        self.futures[run_id] = future
        future.add_done_callback(lambda _f, rid=run_id: self._done(rid))  # no growth in long runs
        return run_id

    def _done(self, run_id: int) -> None:
        self.futures.pop(run_id, None)
        self._started.discard(run_id)

    def pending_run_ids(self) -> list[int]:
        """Runs submitted here and not finished yet (queued or running)."""
        return [rid for rid, f in list(self.futures.items()) if not f.done()]

    def _run(self, request: JobRequest, run_id: int) -> object:
        self._started.add(run_id)
        try:
            return execute_job(self.ctx, request, run_id)
        except Exception as exc:  # a job must never leave its run "running"
            log.exception("job crashed", extra={"run_id": run_id, "kind": request.kind})
            RunRecorder(self.ctx.db).finish(run_id, "failed", message=f"internal error: {error_text(exc)}")
            return None

    def shutdown(self, wait: bool = True, grace: float | None = None) -> list[int]:
        """Stop taking jobs; with `wait`, let accepted jobs finish for up to `grace` seconds (None: as long
        as they take), then close what is unfinished as interrupted. Returns the interrupted run ids."""
        self._closing.set()
        if not wait:
            self._pool.shutdown(wait=False, cancel_futures=True)
            return []
        deadline = None if grace is None else time.monotonic() + grace
        while self.pending_run_ids() and not self.hurry.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        unfinished = self.pending_run_ids()
        if not unfinished:
            self._pool.shutdown(wait=True)
            return []
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._interrupt(unfinished)
        return unfinished

    def _interrupt(self, run_ids: list[int]) -> None:
        release_process_leases(self.ctx.db)  # its job threads die with the process
        runs = RunRecorder(self.ctx.db)
        for rid in run_ids:
            runs.finish_if_running(rid, "failed", message=INTERRUPTED if rid in self._started else
                                   "interrupted: the process stopped before this job started; submit it again")
        log.warning("stopped with unfinished jobs; closed them as interrupted", extra={"run_ids": run_ids})


def exit_now(code: int = 0) -> None:
    """End the process without waiting for job threads that were closed as interrupted (a normal exit joins
    them, and one finishing later would overwrite its run's outcome)."""
    import os
    import sys

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
