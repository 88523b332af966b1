"""APS stand-in databases on the three dialects: SQLite, PostgreSQL and MariaDB.

Every test gets a database of its own: a file on SQLite, a schema on PostgreSQL (the URL's search_path
points at it, so the mapping stays unchanged), a database on MariaDB. MariaDB comes from
SYNCWORKER_TEST_MARIADB_URL (default mysql://root@127.0.0.1:3306/test). As with PostgreSQL, an unreachable
MariaDB skips its tests with a banner at the end of the run, and fails them under CI (CI=true), where
.ci/run starts it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.aps.client import engine_url
from tests.conftest import skip_reason

PG_URL = os.environ.get("SYNCWORKER_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("SYNCWORKER_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(name: str, url: str) -> sa.Engine:
    engine = sa.create_engine(engine_url(url), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("select 1")
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "not reachable"
        engine.dispose()
        reason = f"{name} not reachable at {url}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        if IN_CI:
            pytest.fail(f"{reason}. CI requires {name}; .ci/run starts it.", pytrace=False)
        pytest.skip(reason)
    return engine


@pytest.fixture(scope="session")
def _aps_pg_admin() -> Iterator[sa.Engine]:
    engine = _reachable("PostgreSQL", PG_URL)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _aps_mariadb_admin() -> Iterator[sa.Engine]:
    engine = _reachable("MariaDB", MARIADB_URL)
    yield engine
    engine.dispose()


def _with_database(url: str, database: str, **query: str) -> str:
    u = sa.engine.make_url(engine_url(url)).set(database=database)
    if query:
        u = u.update_query_dict(query)
    return u.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres),
                        pytest.param("mariadb", marks=pytest.mark.mariadb)])
def aps_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own for one test's APS stand-in, on each of the three dialects."""
    name = f"aps_{uuid.uuid4().hex[:10]}"
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'aps.db'}"
    elif request.param == "postgresql":
        admin = request.getfixturevalue("_aps_pg_admin")
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {name}")
        try:
            yield _with_database(PG_URL, admin.url.database, options=f"-csearch_path={name}")
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    else:
        admin = request.getfixturevalue("_aps_mariadb_admin")
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        try:
            yield _with_database(MARIADB_URL, name, charset="utf8mb4")
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reason = skip_reason(terminalreporter, "MariaDB not reachable at")
    if reason:
        terminalreporter.write_sep("=", "MariaDB tests were SKIPPED", yellow=True, bold=True)
        terminalreporter.write_line(reason)
        terminalreporter.write_line("The APS adapter ran on SQLite (and PostgreSQL) only. Start MariaDB or set "
                                    "SYNCWORKER_TEST_MARIADB_URL.")
