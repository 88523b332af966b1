"""One harness per external system: its simulator, an adapter on it, and the few moves the contract tests need
(edit or archive a record as a user of that system would, inject a fault, read the simulator's call count).

To put a new system under the contract, write a `SystemHarness` subclass and append it to `HARNESSES`. Tests
that need something a system cannot do are skipped by *feature*, never by name:

- `http`: the adapter talks HTTP to its simulator, so 401 refresh, 429s, 5xx and resets apply
  (a SQL-backed adapter such as APS leaves it out);
- `create`, `update`, `archive`, `incremental`, `deletes`: taken from the adapter's `capabilities`.

Waits (Retry-After, backoff, limiter pauses) advance the simulator's clock, so the suite spends no real time
waiting.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, ClassVar

from adapters.base import ClientSystem, TokenSet
from adapters.ratelimit import Limits, RateLimiter
from adapters.xero_identity.memory_store import InMemoryTokenStore
from adapters.xero_identity.tokens import TokenManager
from syncworker.domain.profile import ClientKind, ClientProfile, ClientStatus

PAGE_SIZE = 4  # small pages, so a dozen records make several
RECORDS = 12
_names = itertools.count(1)


class SystemHarness(ABC):
    name: ClassVar[str]
    http: ClassVar[bool] = True  # the adapter talks HTTP to its simulator
    marks: ClassVar[tuple[str, ...]] = ()  # pytest marks of the servers it needs (postgres, mariadb)

    adapter: ClientSystem

    # --- life cycle ---
    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    # --- what the contract asks of every system ---
    @property
    def features(self) -> frozenset[str]:
        caps = self.adapter.capabilities
        flags = {"http": self.http, "create": caps.can_create, "update": caps.can_update,
                 "archive": caps.can_archive, "incremental": caps.incremental, "deletes": caps.reports_deletes}
        return frozenset(k for k, on in flags.items() if on)

    @abstractmethod
    def all_ids(self) -> set[str]:
        """Every record the system holds, archived and deleted included."""

    @abstractmethod
    def active_ids(self) -> set[str]: ...

    @abstractmethod
    def now(self) -> datetime:
        """The system's clock (a record edited after this instant is "modified since" it)."""

    @abstractmethod
    def advance(self, seconds: float) -> None: ...

    @abstractmethod
    def edit_email(self, remote_id: str, email: str) -> None:
        """Change a record's email as a user of the system would (not through the adapter)."""

    @abstractmethod
    def archive(self, remote_id: str) -> None:
        """Archive (or delete) a record as a user of the system would."""

    def missing_id(self) -> str:
        """An id of the system's shape that no record has."""
        return "00000000-0000-4000-8000-000000000000"

    @abstractmethod
    def api_calls(self) -> int:
        """Calls the simulator has answered (the truth the adapter's own `calls` stat must match)."""

    # --- HTTP-only (features: "http") ---
    def inject(self, kind: str, times: int = 1) -> None:
        """One of "minute_429", "day_429", "500", "reset" for the next `times` API calls."""
        raise NotImplementedError

    def expire_access_tokens(self) -> None:
        raise NotImplementedError

    def token_refreshes(self) -> int:
        """Refresh-token grants the identity server has answered."""
        raise NotImplementedError

    @staticmethod
    def new_profile() -> ClientProfile:
        n = next(_names)
        return ClientProfile(id="", kind=ClientKind.COMPANY, name=f"Contract Suite {n} Limited",
                             email=f"contract.{n}@example.test", status=ClientStatus.ACTIVE)


def _tokens(sim_identity_url: str, client_id: str, client_secret: str, token_set: TokenSet, clock: object
            ) -> TokenManager:
    return TokenManager(InMemoryTokenStore(token_set), client_id=client_id, client_secret=client_secret,
                        identity_url=sim_identity_url, clock=clock.now, sleep=clock.advance)  # type: ignore[attr-defined]


def _limiter(clock: object) -> RateLimiter:
    return RateLimiter(Limits(), clock=clock.elapsed, now=clock.now, sleep=clock.advance)  # type: ignore[attr-defined]


class LoopbackHarness(SystemHarness):
    """What the two HTTP systems share: a loopback simulator with its own clock, fault plan and identity
    server. Each subclass starts its simulator and states how its store is read and edited."""

    sim: Any

    def stop(self) -> None:
        self.sim.stop()

    def now(self) -> datetime:
        return self.sim.clock.now()

    def advance(self, seconds: float) -> None:
        self.sim.clock.advance(seconds)

    def inject(self, kind: str, times: int = 1) -> None:
        self.sim.faults.inject(kind, times)

    def expire_access_tokens(self) -> None:
        self.sim.identity.expire_access_tokens()

    def token_refreshes(self) -> int:
        return self.sim.identity.token_calls["refresh_token"]


class XeroHarness(LoopbackHarness):
    name = "xero"

    def start(self) -> None:
        from adapters.xero import RetryPolicy, XeroContactsClient
        from simulators.xero import XeroSimulator

        self.sim = XeroSimulator(contacts=RECORDS, seed=41, port=0).start()
        clock = self.sim.clock
        tokens = _tokens(self.sim.identity_url, self.sim.identity.client_id, self.sim.identity.client_secret,
                         self.sim.token_set(), clock)
        self.adapter = XeroContactsClient(tokens, api_url=self.sim.api_url, page_size=PAGE_SIZE,
                                          limiter=_limiter(clock), timeout=(2.0, 5.0),
                                          retry=RetryPolicy(attempts=3, backoff_initial=0.1, rate_limit_attempts=3),
                                          sleep=clock.advance)

    def all_ids(self) -> set[str]:
        return {c["ContactID"] for c in self.sim.store.select()}

    def active_ids(self) -> set[str]:
        return {c["ContactID"] for c in self.sim.store.select(lambda c: c["ContactStatus"] == "ACTIVE")}

    def edit_email(self, remote_id: str, email: str) -> None:
        self.sim.store.edit(remote_id, EmailAddress=email)

    def archive(self, remote_id: str) -> None:
        self.sim.store.archive(remote_id)

    def api_calls(self) -> int:
        return int(self.sim.stats.get("api_calls", 0))



class XpmHarness(LoopbackHarness):
    name = "xpm"

    def start(self) -> None:
        from adapters.xpm.client import XpmClient
        from simulators.xpm import XpmSimulator

        self.sim = XpmSimulator(clients=RECORDS, seed=43).start()
        clock = self.sim.clock
        token_set = TokenSet(access_token=None, refresh_token=self.sim.issue_refresh_token(), expires_at=None,
                             remote_tenant_id=self.sim.xero_tenant_id)
        tokens = _tokens(self.sim.identity_url, self.sim.client_id, self.sim.client_secret, token_set, clock)
        self.adapter = XpmClient(tokens, base_url=self.sim.base_url, limiter=_limiter(clock), page_size=PAGE_SIZE,
                                 max_retries=3, backoff_initial=0.1, sleep=clock.advance, clock=clock.now)

    def all_ids(self) -> set[str]:
        return {c.uuid for c in self.sim.store.list_clients()}

    def active_ids(self) -> set[str]:
        return {c.uuid for c in self.sim.store.active_clients()}

    def edit_email(self, remote_id: str, email: str) -> None:
        self.sim.store.edit_client(remote_id, Email=email)

    def archive(self, remote_id: str) -> None:
        self.sim.store.archive_client(remote_id)

    def api_calls(self) -> int:
        return self.sim.stats.total_calls  # API endpoints only: identity calls are not counted there




class ApsHarness(SystemHarness):
    """APS is a SQL database, not an API: the stand-in on SQLite (and, in the subclasses, on PostgreSQL and
    MariaDB: the same contract on three dialects shows the mapping and the SQL are dialect-neutral), the adapter
    with writes allowed for email (so the update cases run), no HTTP cases. A "call" is a query on the clients
    table (a page of a listing, a read by id); the address rows each page also reads are part of that call."""

    name = "aps"
    http = False
    dialect = "sqlite"

    def start(self) -> None:
        import tempfile
        from datetime import UTC

        import sqlalchemy as sa

        from adapters.aps.client import ApsClient
        from adapters.aps.mapping import DEFAULT_MAPPING_FILE, ApsMapping
        from simulators.aps import build

        self._tmp = tempfile.TemporaryDirectory()
        self._offset = 0.0
        self._base = datetime.now(UTC)
        self._drop: Any = None
        url = self._database()
        try:
            self.standin, _ = build(url, RECORDS, 47)
            self.standin.clock = self.now
            mapping = ApsMapping.parse(DEFAULT_MAPPING_FILE.read_text()
                                       .replace("page_size: 500", f"page_size: {PAGE_SIZE}"))
            self.adapter = ApsClient(self.standin.url, mapping, writable_fields={"email"})
        except BaseException:
            self._cleanup()
            raise
        self._statements = 0
        clients = f"FROM {self.adapter.engine.dialect.identifier_preparer.quote('Entity')}"

        def count(conn: object, cursor: object, statement: str, *_: object) -> None:
            if clients in statement:
                self._statements += 1

        sa.event.listen(self.adapter.engine, "before_cursor_execute", count)

    # On a server: (env var of its URL, the default URL, create and drop a schema / database {name}).
    server: ClassVar[tuple[str, str, str, str] | None] = None

    @staticmethod
    def url_for(url: Any, name: str) -> Any:
        """The server URL pointed at the schema or database `name`."""
        return url

    def _database(self) -> str:
        """SQLite in the temporary folder, or a schema or database of its own on the server (skipped when the
        server is unreachable, failed in CI)."""
        import os
        import uuid

        import pytest
        import sqlalchemy as sa

        from adapters.aps.client import engine_url

        if self.server is None:
            return f"sqlite:///{self._tmp.name}/aps.db"
        env, default, create, drop = self.server
        admin_url = os.environ.get(env, default)
        name = f"aps_contract_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(engine_url(admin_url), connect_args={"connect_timeout": 3})
        try:
            with admin.begin() as conn:
                conn.exec_driver_sql(create.format(name=name))
        except sa.exc.OperationalError as exc:
            admin.dispose()
            reason = f"{self.dialect} not reachable at {admin_url}: {str(exc.orig).splitlines()[0]}"
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)

        def dropped() -> None:
            with admin.begin() as conn:
                conn.exec_driver_sql(drop.format(name=name))
            admin.dispose()

        self._drop = dropped
        return self.url_for(sa.engine.make_url(engine_url(admin_url)), name).render_as_string(hide_password=False)

    def _cleanup(self) -> None:
        if self._drop is not None:
            self._drop()
        self._tmp.cleanup()

    def stop(self) -> None:
        self.adapter.close()
        self.standin.dispose()
        self._cleanup()

    def _rows(self) -> list[dict]:
        import sqlalchemy as sa

        with self.standin.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(self.standin.table("Entity"))).mappings()]

    def all_ids(self) -> set[str]:
        return {str(r["EntityID"]) for r in self._rows()}

    def active_ids(self) -> set[str]:
        return {str(r["EntityID"]) for r in self._rows() if not r["Archived"]}

    def now(self) -> datetime:
        from datetime import timedelta

        return self._base + timedelta(seconds=self._offset)

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def edit_email(self, remote_id: str, email: str) -> None:
        self.standin.edit_client(remote_id, Email=email)

    def archive(self, remote_id: str) -> None:
        self.standin.edit_client(remote_id, Archived=True)

    def missing_id(self) -> str:
        return "999999999"

    def api_calls(self) -> int:
        return self._statements


class ApsPostgresHarness(ApsHarness):
    name, dialect, marks = "aps-postgresql", "postgresql", ("postgres",)
    server = ("SYNCWORKER_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test", "CREATE SCHEMA {name}",
              "DROP SCHEMA IF EXISTS {name} CASCADE")

    @staticmethod
    def url_for(url: Any, name: str) -> Any:
        return url.update_query_dict({"options": f"-csearch_path={name}"})


class ApsMariadbHarness(ApsHarness):
    name, dialect, marks = "aps-mariadb", "mariadb", ("mariadb",)
    server = ("SYNCWORKER_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test",
              "CREATE DATABASE {name} CHARACTER SET utf8mb4", "DROP DATABASE IF EXISTS {name}")

    @staticmethod
    def url_for(url: Any, name: str) -> Any:
        return url.set(database=name).update_query_dict({"charset": "utf8mb4"})


# The systems under the contract. Append a harness here.
HARNESSES: list[type[SystemHarness]] = [XeroHarness, XpmHarness, ApsHarness, ApsPostgresHarness, ApsMariadbHarness]
