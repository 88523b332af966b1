"""Jobs are idempotent functions of (tenant, parameters), run through a small executor interface so the
embedded default (in-process threads) and scale-out (Procrastinate workers on PostgreSQL) share them."""

from syncworker.jobs.base import Executor, JobKind, JobRejected, JobRequest, execute_job, job_kinds

__all__ = ["Executor", "JobKind", "JobRejected", "JobRequest", "execute_job", "job_kinds"]
