"""The database handle: engine set-up for SQLite (WAL, foreign keys, busy timeout) and PostgreSQL,
sessions as units of work, and schema migrations through Alembic.

SQLite allows one writer at a time. A unit of work that may write starts with `BEGIN IMMEDIATE`, taking the
write lock before it reads: a deferred `BEGIN` that reads and then writes fails at once with SQLITE_BUSY
whenever another connection committed in between (WAL cannot upgrade a stale snapshot), and `busy_timeout`
cannot help it. The lock is taken eagerly when the session opens, so a lock still busy after the timeout is
retried a bounded number of times before the body has run (nothing to undo). Pure reads (`Database.read()`)
keep a deferred `BEGIN` and never wait for a writer in WAL mode.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from syncworker.config import normalise_database_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30  # how long one BEGIN IMMEDIATE waits for the writer ahead of it
SQLITE_BEGIN_ATTEMPTS = 3  # then the unit of work fails with "database is locked"
log = logging.getLogger(__name__)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic autogenerate sees our tables only: Procrastinate keeps its job queue in the same PostgreSQL
    database and migrates it itself, so autogenerate must never propose to drop or change it."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate"))


class SchemaNotCurrent(RuntimeError):
    pass


def error_text(exc: BaseException) -> str:
    """What an unexpected error may say in a run's message: its class, and for a database error never
    SQLAlchemy's text, which carries the statement and its parameters (client data), nor the driver's,
    whose message may quote the offending value; only the driver's class and SQLSTATE, plus the first line
    of an OperationalError (a lost connection, a locked database: no values)."""
    if not isinstance(exc, StatementError):
        return f"{type(exc).__name__}: {exc}"
    orig = exc.orig
    what = type(orig).__name__ if orig is not None else "?"
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        what += f", SQLSTATE {sqlstate}"
    first = (str(orig).strip().splitlines() or [""])[0] if isinstance(exc, OperationalError) else ""
    return f"{type(exc).__name__} ({what})" + (f": {first}" if first else "")


class Database:
    def __init__(self, url: str, *, schema: str | None = None, echo: bool = False,
                 secret_key: str | None = None) -> None:
        self.url = normalise_database_url(url)
        self.schema = schema  # PostgreSQL only: isolate a test run in its own schema
        self.engine = _make_engine(self.url, schema=schema, echo=echo)
        self._secret_key: str | None = None
        self.use_secret_key(secret_key)
        # One pool; on SQLite the units of work that may write open with BEGIN IMMEDIATE, reads (and the raw
        # engine: migrations, PRAGMAs) with a deferred BEGIN (see the module docstring).
        self._sessions = sessionmaker(self.engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False)
        self._readers = sessionmaker(self.engine, expire_on_commit=False)

    def use_secret_key(self, key: str | None) -> None:
        """The key that seals tax file numbers in this database (`store.types.SealedIdentifier`). Without one
        (or with an invalid one) they can be neither written nor read, and the error says why."""
        from syncworker.store.crypto import FieldSealer, SecretKeyError, UnusableSealer
        from syncworker.store.types import use_sealer

        if key and key == self._secret_key:
            return  # already in use (deriving the keys again would cost a little for nothing)
        self._secret_key = key
        if not key:
            use_sealer(self.engine, None)
            return
        try:
            use_sealer(self.engine, FieldSealer(key))
        except SecretKeyError as exc:
            use_sealer(self.engine, UnusableSealer(str(exc)))  # type: ignore[arg-type]

    @property
    def has_secret_key(self) -> bool:
        return getattr(self.engine.dialect, "syncworker_sealer", None) is not None

    @property
    def connect_url(self) -> str:
        """The URL another process can use to reach the same data (schema included)."""
        if self.schema:
            sep = "&" if "?" in self.url else "?"
            return f"{self.url}{sep}options=-csearch_path%3D{self.schema}"
        return self.url

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work that may write: commits when the block ends normally, rolls back everything on
        error. On SQLite it holds the write lock from its first statement to its end, so keep it short:
        no API calls and no long computation inside."""
        with self._sessions() as session:
            if self.dialect == "sqlite":
                self._begin_immediate(session)
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A unit of work that only reads (a consistent snapshot; on SQLite it never waits for a writer).
        It is closed, never committed, at the end (a write in it is lost: use `session()` for those); the
        objects it loaded stay readable, detached."""
        with self._readers() as session:
            yield session

    @staticmethod
    def _begin_immediate(session: Session) -> None:
        for attempt in range(1, SQLITE_BEGIN_ATTEMPTS + 1):
            try:
                session.connection()  # runs the engine's "begin" hook: BEGIN IMMEDIATE
                return
            except OperationalError as exc:
                session.rollback()
                if "locked" not in str(exc) or attempt == SQLITE_BEGIN_ATTEMPTS:
                    raise
                log.warning("the SQLite write lock stayed busy; trying again",
                            extra={"attempt": attempt, "of": SQLITE_BEGIN_ATTEMPTS})
                time.sleep(0.05 * attempt)

    # --- migrations ---
    def alembic_config(self) -> AlembicConfig:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self, revision: str = "head") -> None:
        command.upgrade(self.alembic_config(), revision)

    def downgrade(self, revision: str = "base") -> None:
        command.downgrade(self.alembic_config(), revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(self.alembic_config()).get_current_head()

    def require_current(self) -> None:
        current, head = self.current_revision(), self.head_revision()
        if current != head:
            raise SchemaNotCurrent(
                f"database schema is at {current or 'nothing'}, code expects {head}: run `syncworker db upgrade`"
            )

    def dispose(self) -> None:
        self.engine.dispose()


def _make_engine(url: str, *, schema: str | None, echo: bool) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # SQLAlchemy, not the driver, opens transactions: deferred unless the connection asks for IMMEDIATE.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs["pool_pre_ping"] = True
    if schema:
        kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
    return create_engine(url, **kwargs)


def _sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # autocommit at the driver; SQLAlchemy's "begin" hook issues BEGIN
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
