"""schemathesis over every operation of the HTTP API, on SQLite and on PostgreSQL: whatever it sends, the
answer is never a 5xx. Bounded: SYNCWORKER_FUZZ_EXAMPLES examples per operation (default 3 in the suite, on top of its coverage phase;
`benchmarks`-style long runs set more). Tenants and records exist, so ids and names sometimes hit."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from syncworker.config import Settings
from syncworker.http.app import create_app
from syncworker.jobs.inprocess import InProcessExecutor
from syncworker.services.context import ServiceContext
from syncworker.store.db import Database
from tests.http import seed

TOKEN = "fuzz-operator-token"
EXAMPLES = int(os.environ.get("SYNCWORKER_FUZZ_EXAMPLES", "3"))
answers: Counter[str] = Counter()  # "<db> <status class>" -> cases, printed by the last test


@pytest.fixture(scope="module")
def fuzz_db(served_db: Database) -> Database:
    """The HTTP tests' database (SQLite, PostgreSQL), with a practice whose ids and names fuzzing can hit."""
    tenant_id, _ = seed.practice_with_reviews(served_db, "Fuzz Practice")
    seed.duplicate_pair(served_db, tenant_id)
    return served_db


@pytest.fixture(scope="module")
def api_schema(fuzz_db: Database) -> Iterator[object]:
    ctx = ServiceContext(fuzz_db, Settings(database_url=fuzz_db.url, operator_token=TOKEN, xero_webhook_key="k" * 32))
    executor = InProcessExecutor(ctx, workers=1)
    app = create_app(ctx, executor)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    executor.shutdown(wait=True, grace=10)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx(case: schemathesis.Case, fuzz_db: Database) -> None:
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    answers[f"{fuzz_db.dialect} {response.status_code // 100}xx"] += 1
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])


def test_zz_print_counts() -> None:  # runs after the parametrized tests of this module
    print("\nschemathesis answers:", dict(sorted(answers.items())))
