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
from contextlib import contextmanager
from dataclasses import dataclass, field
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


@contextmanager
def readonly_login(url: str) -> Iterator[str]:
    """A URL for the same APS database that can only read it, as the README (APS) tells a practice to connect: on
    SQLite the file opened read-only (mode=ro), on PostgreSQL a role of its own with USAGE on the schema and
    SELECT on its tables, on MariaDB a user with SELECT on the database. Dropped afterwards."""
    u = sa.engine.make_url(engine_url(url))
    name = f"aps_ro_{uuid.uuid4().hex[:10]}"
    if u.get_backend_name() == "sqlite":
        yield f"sqlite:///file:{u.database}?mode=ro&uri=true"
        return
    if u.get_backend_name() == "postgresql":
        schema = u.query["options"].removeprefix("-csearch_path=")
        grant = [f"CREATE ROLE {name} LOGIN", f"GRANT USAGE ON SCHEMA {schema} TO {name}",
                 f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {name}"]
        drop = [f"DROP OWNED BY {name}", f"DROP ROLE {name}"]
    else:  # MariaDB ('%%': pymysql formats even a statement without parameters)
        grant = [f"CREATE USER '{name}'@'%%'", f"GRANT SELECT ON `{u.database}`.* TO '{name}'@'%%'"]
        drop = [f"DROP USER '{name}'@'%%'"]
    admin = sa.create_engine(u)
    try:
        with admin.begin() as conn:
            for statement in grant:
                conn.exec_driver_sql(statement)
        try:
            yield u.set(username=name, password=None).render_as_string(hide_password=False)
        finally:
            with admin.begin() as conn:
                for statement in drop:
                    conn.exec_driver_sql(statement)
    finally:
        admin.dispose()


@dataclass
class StatementLog:
    """Every statement sent to one database by any engine in the process (class-level SQLAlchemy events, so the
    engines the code under test creates and disposes of are heard too); on SQLite also every statement the SQLite
    library itself ran there (its trace callback: the driver's own BEGIN / COMMIT and the dialect's start-up
    queries, which pass no SQLAlchemy event, included)."""

    database: str
    sqlite_file: str | None
    sent: list[str] = field(default_factory=list)
    traced: list[str] = field(default_factory=list)

    def on_execute(self, conn: sa.Connection, cursor: object, statement: str, *args: object) -> None:
        if _database_of(conn.engine.url) == self.database:
            self.sent.append(statement)

    def on_connect(self, dbapi_conn: object, record: object) -> None:
        if self.sqlite_file is None or not hasattr(dbapi_conn, "set_trace_callback"):
            return
        files = [row[2] for row in dbapi_conn.execute("PRAGMA database_list")]  # type: ignore[attr-defined]
        if self.sqlite_file in (os.path.realpath(f) for f in files if f):
            dbapi_conn.set_trace_callback(self.traced.append)  # type: ignore[attr-defined]


def _database_of(url: sa.URL) -> str:
    return (url.database or "").removeprefix("file:") + "|" + str(url.query.get("options", ""))


@contextmanager
def statements_to(url: str) -> Iterator[StatementLog]:
    """Record what reaches the database `url` names while the block runs (whatever login or engine is used)."""
    u = sa.engine.make_url(engine_url(url))
    sqlite_file = os.path.realpath(u.database.removeprefix("file:")) if u.get_backend_name() == "sqlite" else None
    log = StatementLog(_database_of(u), sqlite_file)
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", log.on_execute)
    sa.event.listen(sa.pool.Pool, "connect", log.on_connect)
    try:
        yield log
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", log.on_execute)
        sa.event.remove(sa.pool.Pool, "connect", log.on_connect)


@pytest.fixture
def aps_readonly_login() -> object:
    """`readonly_login` (a context manager: URL in, read-only login's URL out)."""
    return readonly_login


@pytest.fixture
def aps_statements() -> object:
    """`statements_to` (a context manager: URL in, the StatementLog of what reached that database out)."""
    return statements_to


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reason = skip_reason(terminalreporter, "MariaDB not reachable at")
    if reason:
        terminalreporter.write_sep("=", "MariaDB tests were SKIPPED", yellow=True, bold=True)
        terminalreporter.write_line(reason)
        terminalreporter.write_line("The APS adapter ran on SQLite (and PostgreSQL) only. Start MariaDB or set "
                                    "SYNCWORKER_TEST_MARIADB_URL.")
