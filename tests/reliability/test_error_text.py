"""A run that fails on an unexpected database error records what failed, never the data: SQLAlchemy's text
carries the statement and its parameters, PostgreSQL's DETAIL line and some messages quote the values (the
scale-out soak's cut connections failed runs with the statement and its parameters in `job_runs.message`)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from syncworker.store.db import Database, error_text
from syncworker.store.models import Tenant

SECRET = "jane.citizen@example.test"


def failure(db: Database, statement: str, **params: object) -> DBAPIError:
    with pytest.raises(DBAPIError) as info, db.session() as s:
        s.execute(text(statement), params)
    return info.value


def test_a_database_error_is_described_without_the_statement_or_its_values(db: Database) -> None:
    with db.session() as s:
        s.add(Tenant(name=SECRET))
    duplicate = failure(db, "INSERT INTO tenants (name, settings, created_at) VALUES (:n, '{}', CURRENT_TIMESTAMP)",
                        n=SECRET)
    assert SECRET in str(duplicate)  # what SQLAlchemy's text would have put in the run's message
    described = error_text(duplicate)
    assert described.startswith("IntegrityError (") and SECRET not in described and "INSERT" not in described


def test_a_lost_connection_says_so() -> None:
    lost = OperationalError("SELECT * FROM clients WHERE email = %(e)s", {"e": SECRET},
                            Exception("server closed the connection unexpectedly\n\tDETAIL: more"))
    assert error_text(lost) == "OperationalError (Exception): server closed the connection unexpectedly"
    assert error_text(ValueError("bad thing")) == "ValueError: bad thing"
