"""Shared fixtures. Every storage test runs on SQLite and on PostgreSQL.

PostgreSQL comes from SYNCWORKER_TEST_POSTGRES_URL (default postgresql://127.0.0.1:5432/test). Each test
session works in a schema of its own, so parallel runs never see each other's rows. When PostgreSQL
cannot be reached, its tests are skipped with the reason, and the run says so at the end, except under CI
(CI=true), where an unreachable PostgreSQL fails the run: CI never skips them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncworker.store.db import Database

PG_URL = os.environ.get("SYNCWORKER_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_UNREACHABLE = "PostgreSQL not reachable at"


def _pg_engine() -> sa.Engine:
    from syncworker.config import normalise_database_url

    # A refused connection fails at once whatever this says; the timeout only bounds a server that is slow to
    # answer, which a loaded CI machine's PostgreSQL can be for more than 3 s (under CI that failed the run).
    return sa.create_engine(normalise_database_url(PG_URL), connect_args={"connect_timeout": 30})


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    """An engine on the test PostgreSQL database, or a skip (a failure under CI) with the reason."""
    engine = _pg_engine()
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("select 1")
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "not reachable"
        reason = f"{PG_UNREACHABLE} {PG_URL}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        if IN_CI:
            pytest.fail(f"{reason}. CI requires PostgreSQL; .ci/run starts it.", pytrace=False)
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_schema_factory(pg_admin: sa.Engine) -> Iterator[object]:
    created: list[str] = []

    def make() -> str:
        name = f"sw_test_{uuid.uuid4().hex[:10]}"
        with pg_admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {name}")
        created.append(name)
        return name

    yield make
    for name in created:  # a transaction each: dropping them all in one locks every table of every schema at
        with pg_admin.begin() as conn:  # once, past PostgreSQL's lock table ("out of shared memory")
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_migrated(pg_schema_factory: object) -> Iterator[Database]:
    schema = pg_schema_factory()  # type: ignore[operator]
    db = Database(PG_URL, schema=schema)
    db.upgrade()
    yield db
    db.dispose()


def _fresh_sqlite(template: Path, tmp_path: Path) -> Database:
    path = tmp_path / "syncworker.db"
    shutil.copyfile(template, path)
    return Database(f"sqlite:///{path}")


def _truncate(db: Database) -> None:
    from syncworker.store.models import Base

    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        database = _fresh_sqlite(request.getfixturevalue("_sqlite_template"), tmp_path)
        yield database
        database.dispose()
    else:
        database = request.getfixturevalue("_pg_migrated")
        _truncate(database)
        yield database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def blank_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty, unmigrated database, for tests of the migrations themselves: once on SQLite, once on
    PostgreSQL (a schema of its own)."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'm.db'}")
    else:
        database = Database(PG_URL, schema=request.getfixturevalue("pg_schema_factory")())
    yield database
    database.dispose()


@pytest.fixture
def db_url(db: Database) -> str:
    """The URL of `db`, for code that opens its own connection (CLI subprocesses, other threads)."""
    return db.connect_url


@pytest.fixture
def sqlite_db(tmp_path: Path, _sqlite_template: Path) -> Iterator[Database]:
    """SQLite only, for tests about behaviour that does not depend on the database."""
    database = _fresh_sqlite(_sqlite_template, tmp_path)
    yield database
    database.dispose()


@pytest.fixture(autouse=True)
def _fresh_rate_limiters() -> Iterator[None]:
    """Each test's simulator starts with a full call budget; so must the client-side limiters."""
    from adapters.ratelimit import reset_shared_limiters

    reset_shared_limiters()
    yield
    reset_shared_limiters()


def skip_reason(terminalreporter: pytest.TerminalReporter, *starts: str) -> str | None:
    """The first skip reason of the run that starts with one of `starts`. Read from the reports rather than
    from the fixture that skipped, so it works when pytest-xdist ran the tests in other processes."""
    for report in terminalreporter.stats.get("skipped", []):
        if isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
            if reason.startswith(starts):
                return reason
    return None


@pytest.hookimpl(trylast=True)  # last, so the run ends with it rather than burying it above the summary
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reason = skip_reason(terminalreporter, PG_UNREACHABLE)
    if reason:
        terminalreporter.write_sep("=", "PostgreSQL tests were SKIPPED", yellow=True, bold=True)
        terminalreporter.write_line(reason)
        terminalreporter.write_line(
            "Only the SQLite half of the storage tests ran. Start PostgreSQL or set SYNCWORKER_TEST_POSTGRES_URL."
        )
