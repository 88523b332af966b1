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


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_logged_database_error_keeps_its_frames_and_quotes_no_values(db: Database, fmt: str) -> None:
    # The run frame logs an unexpected error with its traceback; SQLAlchemy's text (statement, parameters)
    # and PostgreSQL's DETAIL line quote the client's data, so only frames, classes and first lines reach it.
    import io
    import logging

    from syncworker.logs import configure_logging

    with db.session() as s:
        s.add(Tenant(name=SECRET))
    duplicate = failure(db, "INSERT INTO tenants (name, settings, created_at) VALUES (:n, '{}', CURRENT_TIMESTAMP)",
                        n=SECRET)
    stream = io.StringIO()
    configure_logging("INFO", fmt, stream=stream)
    try:
        raise duplicate
    except DBAPIError:
        logging.getLogger("syncworker.test").exception("link_run crashed")
    finally:
        configure_logging("WARNING")
    written = stream.getvalue()
    assert SECRET not in written and "jane.citizen" not in written and "INSERT" not in written
    assert "IntegrityError" in written and "test_a_logged_database_error_keeps_its_frames" in written
