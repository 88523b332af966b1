"""The embedded default executor: jobs run on a small thread pool inside this process."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

from syncworker.jobs.base import JobRequest, execute_job, prepare
from syncworker.services.context import ServiceContext
from syncworker.services.runs import RunRecorder

log = logging.getLogger(__name__)


class InProcessExecutor:
    def __init__(self, ctx: ServiceContext, *, workers: int = 2) -> None:
        self.ctx = ctx
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="syncworker-job")
        self.futures: dict[int, Future[object]] = {}

    def submit(self, request: JobRequest) -> int:
        run_id = prepare(self.ctx, request)
        future = self._pool.submit(self._run, request, run_id)
        self.futures[run_id] = future
        future.add_done_callback(lambda _f, rid=run_id: self.futures.pop(rid, None))  # no growth in long runs
        return run_id

    def pending_run_ids(self) -> list[int]:
        """Runs submitted here and not finished yet (queued or running)."""
        return [rid for rid, f in list(self.futures.items()) if not f.done()]

    def _run(self, request: JobRequest, run_id: int) -> object:
        try:
            return execute_job(self.ctx, request, run_id)
        except Exception as exc:  # a job must never leave its run "running"
            log.exception("job crashed", extra={"run_id": run_id, "kind": request.kind})
            RunRecorder(self.ctx.db).finish(run_id, "failed", message=f"internal error: {type(exc).__name__}: {exc}")
            return None

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)
