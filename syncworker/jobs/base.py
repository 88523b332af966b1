"""The job contract.

A `JobRequest` names a job kind, a tenant and JSON-ready parameters. Submitting one creates its `JobRun`
row at once (so callers get an id to poll) and hands (request, run id) to an executor. `execute_job`
is what every executor finally calls: it resolves the kind to its function and runs it with the run id.
Job functions take the tenant lock themselves, so two runs for one tenant never overlap whichever
executor runs them; a request for a tenant that is busy is refused at submission with a clear message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from syncworker.jobs import functions
from syncworker.services.context import ServiceContext
from syncworker.services.locks import live_holder
from syncworker.services.runs import RunRecorder
from syncworker.services.tenants import get_tenant


class JobKind(StrEnum):
    """The kinds of job (and of run record). Callers name a kind by this, never by a bare string."""

    LINK_RUN = "link_run"
    SYNC = "sync"
    WEBHOOK_PULL = "webhook_pull"
    RELATIONSHIP_SYNC = "relationship_sync"


JobFunction = Callable[[ServiceContext, "JobRequest", int], Any]
# kind -> its function (jobs/functions.py; each imports its service only when it runs). Tests add kinds here.
JOBS: dict[str, JobFunction] = {
    JobKind.LINK_RUN: functions.link_run,
    JobKind.SYNC: functions.sync,
    JobKind.WEBHOOK_PULL: functions.webhook_pull,
    JobKind.RELATIONSHIP_SYNC: functions.relationship_sync,
}
TRIGGERS = ("schedule", "operator", "webhook", "cli")


class JobRejected(ValueError):
    """The request is invalid or the tenant is busy. `busy_run_id` is set for the latter."""

    def __init__(self, message: str, busy_run_id: int | None = None) -> None:
        super().__init__(message)
        self.busy_run_id = busy_run_id


@dataclass(frozen=True)
class JobRequest:
    kind: str
    tenant: str
    params: dict[str, Any] = field(default_factory=dict)
    trigger: str = "operator"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tenant": self.tenant, "params": self.params, "trigger": self.trigger}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobRequest:
        return cls(kind=d["kind"], tenant=d["tenant"], params=dict(d.get("params") or {}),
                   trigger=d.get("trigger", "operator"))


class Executor(Protocol):
    def submit(self, request: JobRequest) -> int:
        """Validate, create the run record and queue the job. Returns the run id."""
        ...

    def shutdown(self, wait: bool = True) -> None: ...


def job_kinds() -> tuple[str, ...]:
    return tuple(JOBS)


def resolve(kind: str) -> JobFunction:
    try:
        return JOBS[kind]
    except KeyError:
        raise JobRejected(f"unknown job kind {kind!r}: expected one of {', '.join(JOBS)}") from None


def prepare(ctx: ServiceContext, request: JobRequest, *, refuse_if_busy: bool = True, queued: bool = False) -> int:
    """Check a request and create its run record: status `queued` when it waits in the scale-out queue for a
    worker (`queued=True`), else `running` with phase queued (the in-process pool starts it at once)."""
    resolve(request.kind)
    if request.trigger not in TRIGGERS:
        raise JobRejected(f"unknown trigger {request.trigger!r}: expected one of {', '.join(TRIGGERS)}")
    with ctx.db.session() as s:
        try:
            tenant_id = get_tenant(s, request.tenant).id
        except ValueError as exc:
            raise JobRejected(str(exc)) from None
    if refuse_if_busy:
        held, holder = live_holder(ctx.db, tenant_id, ctx.settings.lock_ttl_seconds)
        if held:
            which = f" (run {holder})" if holder else ""
            raise JobRejected(f"tenant {request.tenant!r} already has a run in progress{which}; "
                              "try again when it finishes", busy_run_id=holder)
    system = request.params.get("system")
    run_id = RunRecorder(ctx.db).start(request.kind, tenant_id=tenant_id, trigger=request.trigger,
                                       system=str(system) if system else None, params=request.params,
                                       dry_run=bool(request.params.get("dry_run")),
                                       status="queued" if queued else "running")
    RunRecorder(ctx.db).progress(run_id, phase="queued")
    return run_id


def execute_job(ctx: ServiceContext, request: JobRequest, run_id: int) -> Any:
    """Run a prepared job. Safe to call again with the same run id (a retried delivery): a run that already
    finished is not run twice. A queued run becomes `running` here, when a worker picks it up."""
    if not RunRecorder(ctx.db).claim(run_id):
        return None
    return resolve(request.kind)(ctx, request, run_id)
