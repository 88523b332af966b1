"""`ApsClient`: the ClientSystem port on APS Practice Management's own SQL database (SQLAlchemy Core).

APS has no public API; integrators read its Microsoft SQL Server from inside the practice's network
(xpm_aps_xero.md §3). Which tables and columns hold what is the mapping (config/aps.yaml, `ApsMapping`),
checked against the live database when the client is built: every table is read with
`SELECT * ... WHERE 1 = 0` and its result columns compared with the names the mapping uses, so a missing
table or column stops everything with one line naming it (and only SELECTs were sent to find out).

Reads
- full: keyset pages on the key (`WHERE key > :last ORDER BY key`), checkpoint `key:<json of the last key>`,
  None on the last page. Archived clients are left out unless the mapping includes them (as XPM's
  listings do); deleted clients are simply absent, so deletes are seen only on a complete read.
- incremental, when a modified-time column is mapped: `WHERE modified > :since`, keyset pages on
  (modified, key); every page carries `since:<ISO UTC>` of the pull, the last one the next cursor (the
  newest change seen minus an overlap, on the column's own clock). With a rowversion column,
  `resume_from="rv:<n>"` reads what changed after n and the last page carries `rv:<newest>`; without a
  modified column that token is also the pages' `next_cursor` (a full read's: the newest rowversion before it
  began), which the shared pull loop hands back as `resume_from`.
  Without either the port reports `incremental=False` and a "modified since" request is a full read: the
  caller's records cache tells changed from unchanged by hash.
- one value may hold several emails: the first is the profile's email, the rest stay in `extra`.
- family groups are client groups; relationships and contacts come from their own tables.

Writes are off unless the tenant allowed fields (`writable_fields`): APS is the practice's system of record.
While they are off (and outside an allowed write), an engine event refuses every statement but a plain SELECT
before it reaches the database. An allowed write is one transaction: the client row, its address rows, the modified time.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from adapters.aps.mapping import ADDRESS_KINDS, ApsMapping, MappingError
from adapters.base import Capabilities, ClientSystem, Page
from adapters.errors import NotFound, ReadOnly, RemoteRejected, TransientError
from syncworker.config import redact_url
from syncworker.domain.profile import (
    Address,
    ClientGroup,
    ClientKind,
    ClientProfile,
    ClientStatus,
    ContactProfile,
    Relationship,
)

# Outside an allowed write only a plain SELECT may reach the database: a list of what is allowed, not of what is
# not, so `WITH x AS (...) DELETE ...`, `SELECT ... INTO`, `SELECT ... FOR UPDATE`, a stored procedure's EXEC or a
# SET is refused too, and so is anything a mistake in this module or a new SQLAlchemy version might send.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|\[[^\]]*\]")
_CHANGES_DATA = re.compile(r"\b(INTO|FOR\s+UPDATE|FOR\s+SHARE|LOCK|UPDLOCK|XLOCK|HOLDLOCK|TABLOCKX)\b", re.I)
_DATE_FIELDS = frozenset({"date_of_birth", "start_date", "end_date"})
_TRUE = frozenset({"1", "y", "yes", "true", "t", "-1"})
SEARCH_LIMIT = 50


class WritesDisabled(ReadOnly):
    """A write was attempted while the tenant has not allowed writes to APS."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def engine_url(url: str) -> str:
    """The SQLAlchemy URL for what a practice may write: postgres(ql)://, mysql:// or mariadb:// pick the
    drivers we ship (psycopg 3, PyMySQL); mssql+pyodbc:// and mssql+pymssql:// are used as given."""
    for prefix, driver in (("postgres://", "postgresql+psycopg://"), ("postgresql://", "postgresql+psycopg://"),
                           ("mysql://", "mysql+pymysql://"), ("mariadb://", "mysql+pymysql://"),
                           ("mariadb+pymysql://", "mysql+pymysql://")):
        if url.startswith(prefix):
            return driver + url[len(prefix):]
    return url


def redact(url: str) -> str:
    """The URL for a message: its passwords hidden, in the user part and in the query string (odbc_connect)."""
    return redact_url(url)


def create_aps_engine(url: str) -> Engine:
    """A small pool for one run's queries (new connections are slow on some servers); `ApsClient.close`, or
    the engine's collection with the run's adapter, closes it, so nothing stays open between runs."""
    try:
        return sa.create_engine(engine_url(url), pool_size=2, max_overflow=2, pool_pre_ping=False, future=True)
    except ImportError as exc:
        raise MappingError(f"APS database URL {redact(url)} needs a database driver that is not installed: {exc} "
                           "(for SQL Server: pip install 'syncworker[mssql]', or pyodbc with Microsoft's ODBC "
                           "driver)") from None
    except sa.exc.ArgumentError as exc:
        raise MappingError(f"APS database URL {redact(url)} cannot be used: {exc}") from None


class ApsClient(ClientSystem):
    system = "aps"
    records_carry_relationships = False  # a table of their own: `list_relationships_of`

    def __init__(self, database_url: str, mapping: ApsMapping | None = None, *,
                 writable_fields: Iterable[str] = (), overlap: timedelta = timedelta(minutes=5),
                 engine: Engine | None = None, validate: bool = True) -> None:
        self.mapping = m = mapping or ApsMapping.load()
        self.url = database_url
        self.engine = engine or create_aps_engine(database_url)
        self._overlap = overlap
        self._stats: Counter[str] = Counter()
        self._writing = False
        sa.event.listen(self.engine, "before_cursor_execute", self._guard)
        writable = frozenset(writable_fields)
        unknown = writable - self.mappable_fields()
        if unknown:
            raise MappingError(f"APS writes: {', '.join(sorted(unknown))} cannot be written: the mapping names no "
                               f"column for it (writable: {', '.join(sorted(self.mappable_fields()))})")
        self.writable = writable
        self.read_batch_size = m.page_size  # reads by id are IN-lists of a page of keys: one query per table
        self.capabilities = Capabilities(
            can_update=bool(writable), writable_fields=writable, incremental=m.modified is not None,
            reports_deletes=False, relationships=m.relationships is not None, groups=m.family_groups is not None,
            writes_relationships=False,
        )
        self._key_int: dict[str, bool] = {}
        self._tables: dict[str, sa.TableClause] = {}
        if validate:
            self.validate()

    # --- the mapping against the live database ---
    def validate(self) -> None:
        """Check every table and column the mapping names. Raises MappingError naming the first missing one."""
        m = self.mapping
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.select(sa.literal(1)))
        except DBAPIError as exc:
            raise MappingError(f"cannot connect to the APS database {redact(self.url)}: {_first_line(exc)}") from None
        wanted: dict[str, list[tuple[str, str]]] = {}
        for table, column, where in m.required_columns():
            wanted.setdefault(table, []).append((column, where))
        where_table = {m.table: "clients.table"}
        for sec, name in (("addresses", m.addresses), ("contacts", m.contacts), ("family_groups", m.family_groups),
                          ("relationships", m.relationships)):
            if name is not None:
                where_table.setdefault(name.table, f"{sec}.table")
        for table, columns in wanted.items():
            present = self._columns_of(table, where_table.get(table, "a table"))
            by_fold = {c.casefold(): c for c in present}
            for column, where in columns:
                if column in present:
                    continue
                hint = f" (the database spells it {by_fold[column.casefold()]!r})" if column.casefold() in by_fold else ""
                raise MappingError(f"APS mapping {m.source}: column {table}.{column} ({where}) does not exist in the "
                                   f"database{hint}")
        self._key_int["clients"] = self._probe_key(m.table, m.key)
        if m.contacts:
            self._key_int["contacts"] = self._probe_key(m.contacts.table, m.contacts.key)
        if m.family_groups:
            self._key_int["groups"] = self._probe_key(m.family_groups.table, m.family_groups.key)

    def _columns_of(self, table: str, where: str) -> set[str]:
        t = sa.table(table, schema=self.mapping.schema)
        try:
            with self.engine.connect() as conn:
                result = conn.execute(sa.select(sa.text("*")).select_from(t).where(sa.false()))
                return set(result.keys())
        except DBAPIError as exc:
            raise MappingError(f"APS mapping {self.mapping.source}: table {self._qualified(table)} ({where}) does "
                               f"not exist in the database or cannot be read: {_first_line(exc)}") from None

    def _probe_key(self, table: str, key: str) -> bool:
        t = self._table(table, [key])
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(t.c[key]).limit(1)).scalar()
        return value is None or isinstance(value, int)

    def _qualified(self, table: str) -> str:
        return f"{self.mapping.schema}.{table}" if self.mapping.schema else table

    def mappable_fields(self) -> frozenset[str]:
        """Canonical (flattened) fields the mapping could write."""
        m = self.mapping
        out = set(m.fields)
        if m.email_column:
            out.add("email")
        if m.addresses:
            out |= {f"{kind}.{part}" for kind in m.addresses.types for part in m.addresses.fields}
        return frozenset(out)

    # --- SQL plumbing ---
    def _guard(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        self._stats["calls"] += 1
        if not self._writing and not _plain_select(statement):
            raise WritesDisabled(f"refused to send {_first_word(statement) or 'a statement'} to APS: only SELECT is "
                                 "sent outside a write the tenant allowed")

    def _table(self, name: str, columns: Iterable[str], types: Mapping[str, Any] | None = None) -> sa.TableClause:
        types = types or {}
        cols = list(dict.fromkeys(columns))
        return sa.table(name, *(sa.column(c, types.get(c)) for c in cols), schema=self.mapping.schema)

    def _clients_table(self) -> sa.TableClause:
        if "clients" not in self._tables:
            m = self.mapping
            types: dict[str, Any] = {c: sa.Date() for f, c in m.fields.items() if f in _DATE_FIELDS}
            if m.modified:
                types[m.modified] = sa.DateTime()
            self._tables["clients"] = self._table(m.table, self._client_columns(), types)
        return self._tables["clients"]

    def _client_columns(self) -> list[str]:
        m = self.mapping
        cols = [m.key, *(c for c in (m.kind_column, m.category_column, m.archived, m.modified, m.rowversion,
                                     m.email_column) if c)]
        cols += list(m.fields.values()) + list(m.extra.values())
        if m.family_groups:
            cols.append(m.family_groups.member_column)
        return cols

    def _rows(self, query: Any) -> list[dict[str, Any]]:
        try:
            with self.engine.connect() as conn:
                return [dict(r) for r in conn.execute(query).mappings()]
        except DBAPIError as exc:
            if exc.connection_invalidated or isinstance(exc, sa.exc.OperationalError):
                raise TransientError(f"APS database: {_first_line(exc)}") from None
            raise RemoteRejected(f"APS database refused a read: {_first_line(exc)}") from None

    def _key(self, kind: str, value: str) -> Any:
        if self._key_int.get(kind, True) and str(value).strip().lstrip("-").isdigit():
            return int(value)
        if self._key_int.get(kind):
            raise NotFound(f"not an APS key: {str(value)[:40]!r}")
        return str(value)

    def _client_keys(self, remote_ids: Iterable[str]) -> dict[Any, str]:
        """{APS key: the id asked for} of each distinct id, in order; an id that cannot be a key is left out
        (it names no client, as an unknown key does)."""
        keys: dict[Any, str] = {}
        for rid in dict.fromkeys(remote_ids):
            try:
                keys[self._key("clients", rid)] = rid
            except NotFound:
                continue
        return keys

    # --- clients: reading ---
    def iter_client_pages(self, *, modified_since: datetime | None = None,
                          resume_from: str | None = None) -> Iterator[Page[ClientProfile]]:
        if resume_from:
            kind, _, value = resume_from.partition(":")
            if kind == "key" and value:
                return self._full(json.loads(value))
            if kind == "since" and value:
                return self._since(datetime.fromisoformat(value))
            if kind == "rv" and value and self.mapping.rowversion:
                return self._rowversion(int(value))
            raise ValueError(f"not an APS checkpoint: {resume_from[:40]!r}")
        if modified_since is None or self.mapping.modified is None:
            return self._full(None)  # without a modified column the caller's cache diffs by hash
        return self._since(modified_since)

    def _full(self, after: Any) -> Iterator[Page[ClientProfile]]:
        m, t = self.mapping, self._clients_table()
        key = t.c[m.key]
        # Where the next incremental read starts, on the modified column's clock: the newest change before this
        # read began (a change made while it runs is newer), less the overlap. Not the worker's clock, which
        # may not agree with the practice's server.
        next_cursor: datetime | str | None = None
        if after is None:
            # Without a modified column, a rowversion is the cursor: the newest one before this read began.
            next_cursor = self._newest_change() if m.modified else self._newest_rowversion() if m.rowversion else None
        while True:
            q = sa.select(t).order_by(key).limit(m.page_size)
            if after is not None:
                q = q.where(key > after)
            rows = self._rows(q)
            self._stats["client_pages"] += 1
            profiles = [p for p in self._profiles(rows)
                        if m.include_archived_in_full_read or p.status != ClientStatus.ARCHIVED]
            last = len(rows) < m.page_size
            after = rows[-1][m.key] if rows else after
            page = Page(profiles, checkpoint=None if last else f"key:{json.dumps(after)}")
            if last and next_cursor is not None:
                page.next_cursor = next_cursor
            yield page
            if last:
                return

    def _newest_change(self) -> datetime | None:
        m, t = self.mapping, self._clients_table()
        assert m.modified is not None
        newest = self._rows(sa.select(sa.func.max(t.c[m.modified]).label("newest")))[0]["newest"]
        if isinstance(newest, str):  # SQLite hands back an aggregate of a DATETIME column as text
            newest = datetime.fromisoformat(newest)
        return self._utc(_naive(newest)) - self._overlap if isinstance(newest, datetime) else None

    def _newest_rowversion(self) -> str:
        m, t = self.mapping, self._clients_table()
        assert m.rowversion is not None
        newest = self._rows(sa.select(sa.func.max(t.c[m.rowversion]).label("newest")))[0]["newest"]
        return f"rv:{_rv_int(newest) if newest is not None else 0}"

    def _since(self, since: datetime) -> Iterator[Page[ClientProfile]]:
        m, t = self.mapping, self._clients_table()
        assert m.modified is not None
        since_utc = _as_utc(since)
        col, key = t.c[m.modified], t.c[m.key]
        bound = self._column_time(since_utc)
        after: tuple[datetime, Any] | None = None
        newest = bound
        pages: list[list[ClientProfile]] = []
        while True:  # the changed set is small: read it all, then hand it out with the cursors
            q = sa.select(t).where(col > bound).order_by(col, key).limit(m.page_size)
            if after is not None:
                q = q.where(sa.or_(col > after[0], sa.and_(col == after[0], key > after[1])))
            rows = self._rows(q)
            self._stats["client_pages"] += 1
            pages.append(self._profiles(rows))
            if rows:
                after = (rows[-1][m.modified], rows[-1][m.key])
                newest = max(newest, _naive(after[0]))
            if len(rows) < m.page_size:
                break
        next_since = max(since_utc, self._utc(newest) - self._overlap)
        for i, items in enumerate(pages):
            last = i == len(pages) - 1
            cursor = next_since if last else since_utc
            page = Page(items, checkpoint=f"since:{cursor.isoformat()}", incremental=True)
            if last:  # the next pull starts on the column's clock, not the caller's
                page.next_cursor = next_since
            yield page

    def _rowversion(self, after: int) -> Iterator[Page[ClientProfile]]:
        m, t = self.mapping, self._clients_table()
        assert m.rowversion is not None
        col = t.c[m.rowversion]
        start, newest = after, after
        while True:
            rows = self._rows(sa.select(t).where(col > self._rv_param(newest)).order_by(col).limit(m.page_size))
            self._stats["client_pages"] += 1
            if rows:
                newest = _rv_int(rows[-1][m.rowversion])
            last = len(rows) < m.page_size
            page = Page(self._profiles(rows), checkpoint=f"rv:{newest if last else start}", incremental=True)
            if last:  # the shared pull loop hands it back as `resume_from` next time
                page.next_cursor = f"rv:{newest}"
            yield page
            if last:
                return

    def _rv_param(self, value: int) -> Any:
        return value.to_bytes(8, "big") if self.engine.dialect.name == "mssql" else value

    def get_client(self, remote_id: str) -> ClientProfile | None:
        m, t = self.mapping, self._clients_table()
        try:
            key = self._key("clients", remote_id)
        except NotFound:
            return None
        rows = self._rows(sa.select(t).where(t.c[m.key] == key))
        self._stats["client_reads"] += 1
        found = self._profiles(rows)
        return found[0] if found else None

    def get_clients(self, remote_ids: Iterable[str]) -> list[ClientProfile]:
        """Several clients by key in a query per page of keys; unknown keys are simply absent."""
        m, t = self.mapping, self._clients_table()
        keys = list(self._client_keys(remote_ids))
        out: list[ClientProfile] = []
        for i in range(0, len(keys), m.page_size):
            out += self._profiles(self._rows(sa.select(t).where(t.c[m.key].in_(keys[i:i + m.page_size]))))
            self._stats["client_reads"] += 1
        return out

    def search_clients(self, query: str) -> list[ClientProfile]:
        m, t = self.mapping, self._clients_table()
        name_col = m.fields.get("name") or m.fields.get("family_name")
        words = [w for w in re.split(r"\s+", query.strip().casefold()) if w]
        if not name_col or not words:
            return []
        col = sa.func.lower(t.c[name_col])
        q = sa.select(t).where(*(col.like(f"%{_escape_like(w)}%", escape="\\") for w in words))
        rows = self._rows(q.order_by(t.c[name_col]).limit(SEARCH_LIMIT))
        self._stats["searches"] += 1
        return self._profiles(rows)

    # --- rows -> profiles ---
    def _profiles(self, rows: Sequence[Mapping[str, Any]]) -> list[ClientProfile]:
        if not rows:
            return []
        addresses = self._addresses([r[self.mapping.key] for r in rows])
        return [self._profile(r, addresses.get(r[self.mapping.key], {})) for r in rows]

    def _addresses(self, keys: list[Any]) -> dict[Any, dict[str, Address]]:
        a = self.mapping.addresses
        if a is None or not keys:
            return {}
        t = self._table(a.table, [a.client, a.type_column, *a.fields.values(), *([a.key] if a.key else [])])
        kind_of = {_fold(v): k for k, v in a.types.items()}
        out: dict[Any, dict[str, Address]] = {}
        q = sa.select(t).where(t.c[a.client].in_(keys))
        if a.key:
            q = q.order_by(t.c[a.key])
        for row in self._rows(q):
            kind = kind_of.get(_fold(str(row[a.type_column] or "")))
            if kind is None or kind in out.get(row[a.client], {}):
                continue  # another type (e.g. registered office), or a second row of one type: the first wins
            addr = Address(**{part: _text(row[col]) for part, col in a.fields.items()})
            if not addr.is_empty():
                out.setdefault(row[a.client], {})[kind] = addr
        return out

    def _profile(self, row: Mapping[str, Any], addresses: Mapping[str, Address]) -> ClientProfile:
        m = self.mapping
        f = {name: row[col] for name, col in m.fields.items()}
        given, family = _text(f.get("given_name")), _text(f.get("family_name"))
        kind = m.kind_for(_text(row[m.kind_column])) if m.kind_column else None
        if kind is None:
            kind = ClientKind.INDIVIDUAL if (given or family) and not (m.kind_column and row[m.kind_column]) \
                else ClientKind.OTHER
        emails = _split_emails(_text(row[m.email_column]) if m.email_column else None, m.email_separators)
        extra: dict[str, Any] = {k: _text(row[col]) for k, col in m.extra.items() if _text(row[col])}
        if m.kind_column and _text(row[m.kind_column]):
            extra["entity_type"] = _text(row[m.kind_column])
        if m.category_column:
            extra["is_prospect"] = _fold(str(row[m.category_column] or "")) in m.prospect_values
        if len(emails) > 1:
            extra["other_emails"] = emails[1:]
        if m.family_groups and row[m.family_groups.member_column] is not None:
            extra["group_ids"] = [str(row[m.family_groups.member_column])]
        modified = row[m.modified] if m.modified else None
        return ClientProfile(
            id=str(row[m.key]), kind=kind,
            name=_text(f.get("name")) or " ".join(x for x in (given, family) if x),
            given_name=given, middle_name=_text(f.get("middle_name")), family_name=family,
            email=emails[0] if emails else None, phone=_text(f.get("phone")), mobile=_text(f.get("mobile")),
            website=_text(f.get("website")), address=addresses.get("address"),
            postal_address=addresses.get("postal_address"), date_of_birth=_date(f.get("date_of_birth")),
            tax_number=_text(f.get("tax_number")), business_number=_text(f.get("business_number")),
            company_number=_text(f.get("company_number")),
            status=ClientStatus.ARCHIVED if m.archived and _truthy(row[m.archived]) else ClientStatus.ACTIVE,
            modified_at=self._utc(_naive(modified)) if isinstance(modified, datetime) else None,
            extra=extra,
        )

    # --- clients: writing ---
    def update_client(self, remote_id: str, changes: Mapping[str, Any]) -> ClientProfile:
        if not self.writable:
            raise WritesDisabled("writes to APS are off for this tenant (allow fields with `syncworker connect aps "
                                 "--allow-writes FIELD,...`)")
        refused = set(changes) - self.writable
        if refused:
            raise ValueError(f"not writable to APS for this tenant: {', '.join(sorted(refused))}")
        m, t = self.mapping, self._clients_table()
        key = self._key("clients", remote_id)
        values: dict[str, Any] = {}
        for f, v in changes.items():
            if f in m.fields:
                values[m.fields[f]] = _date(v) if f in _DATE_FIELDS else _text(v)
        current = self.get_client(remote_id)
        if current is None:
            raise NotFound(f"APS client {remote_id} not found")
        if "email" in changes and m.email_column:
            others = [e for e in current.extra.get("other_emails", []) if e != _text(changes["email"])]
            values[m.email_column] = "; ".join([e for e in [_text(changes["email"])] if e] + others) or None
        self._writing = True
        try:
            with self.engine.begin() as conn:
                if m.modified and m.touch_modified:
                    values[m.modified] = self._column_time(utcnow())
                if m.rowversion and m.bump_rowversion:
                    top = conn.execute(sa.select(sa.func.max(t.c[m.rowversion]))).scalar()
                    values[m.rowversion] = _rv_int(top) + 1 if top is not None else 1
                if values:
                    done = conn.execute(sa.update(t).where(t.c[m.key] == key).values(values))
                    if done.rowcount == 0:
                        raise NotFound(f"APS client {remote_id} not found")
                self._write_addresses(conn, key, changes)
        except SQLAlchemyError as exc:
            raise RemoteRejected(f"APS database refused the write: {_first_line(exc)}") from None
        finally:
            self._writing = False
        self._stats["client_writes"] += 1
        stored = self.get_client(remote_id)
        if stored is None:
            raise NotFound(f"APS client {remote_id} vanished during the write")
        return stored

    def _write_addresses(self, conn: sa.Connection, key: Any, changes: Mapping[str, Any]) -> None:
        a = self.mapping.addresses
        if a is None:
            return
        t = self._table(a.table, [a.client, a.type_column, *a.fields.values(), *([a.key] if a.key else [])])
        for kind in ADDRESS_KINDS:
            parts = {p: _text(changes[f"{kind}.{p}"]) for p in a.fields if f"{kind}.{p}" in changes}
            if not parts or kind not in a.types:
                continue
            values = {a.fields[p]: v for p, v in parts.items()}
            where = sa.and_(t.c[a.client] == key, t.c[a.type_column] == a.types[kind])
            if conn.execute(sa.update(t).where(where).values(values)).rowcount == 0 and any(parts.values()):
                conn.execute(sa.insert(t).values({a.client: key, a.type_column: a.types[kind], **values}))

    # --- contacts ---
    def iter_contact_pages(self, *, resume_from: str | None = None) -> Iterator[Page[ContactProfile]]:
        ct = self.mapping.contacts
        if ct is None:
            return iter(())
        after = None
        if resume_from:
            kind, _, value = resume_from.partition(":")
            if kind != "key" or not value:
                raise ValueError(f"not an APS contacts checkpoint: {resume_from[:40]!r}")
            after = json.loads(value)
        return self._contact_pages(after)

    def _contact_pages(self, after: Any) -> Iterator[Page[ContactProfile]]:
        ct = self.mapping.contacts
        assert ct is not None
        t = self._table(ct.table, [ct.key, ct.client, *ct.fields.values()])
        while True:
            q = sa.select(t).order_by(t.c[ct.key]).limit(self.mapping.page_size)
            if after is not None:
                q = q.where(t.c[ct.key] > after)
            rows = self._rows(q)
            self._stats["contact_pages"] += 1
            last = len(rows) < self.mapping.page_size
            after = rows[-1][ct.key] if rows else after
            items = [self._contact(r) for r in rows]
            yield Page(items, checkpoint=None if last else f"key:{json.dumps(after)}")
            if last:
                return

    def _contact(self, row: Mapping[str, Any]) -> ContactProfile:
        ct = self.mapping.contacts
        assert ct is not None
        f = {name: row[col] for name, col in ct.fields.items()}
        emails = _split_emails(_text(f.get("email")), self.mapping.email_separators)
        given, family = _text(f.get("given_name")), _text(f.get("family_name"))
        return ContactProfile(
            id=str(row[ct.key]), name=_text(f.get("name")) or " ".join(x for x in (given, family) if x),
            given_name=given, family_name=family, email=emails[0] if emails else None, phone=_text(f.get("phone")),
            mobile=_text(f.get("mobile")), position=_text(f.get("position")), is_primary=_truthy(f.get("is_primary")),
            client_ids=(str(row[ct.client]),) if row[ct.client] is not None else (),
            extra={"other_emails": emails[1:]} if len(emails) > 1 else {},
        )

    # --- relationships and groups ---
    def list_relationships(self, client_id: str) -> list[Relationship]:
        return self.list_relationships_of([client_id])[client_id]

    def list_relationships_of(self, client_ids: Iterable[str]) -> dict[str, list[Relationship]]:
        """The relationships each client holds, in one query per page of keys (an IN-list), not one per client:
        over a practice's VPN a query's round trip costs more than its rows. A key APS cannot have reads as none."""
        r = self.mapping.relationships
        ids = list(dict.fromkeys(client_ids))
        out: dict[str, list[Relationship]] = {cid: [] for cid in ids}
        if r is None:
            return out
        types = {c: sa.Date() for f, c in r.fields.items() if f in _DATE_FIELDS}
        t = self._table(r.table, [r.key, r.client, r.related, r.type_column, *r.fields.values()], types)
        keys = self._client_keys(ids)
        # A row answers to the id asked for, also where the database compares text keys ignoring case.
        owner = {str(k).casefold(): cid for k, cid in keys.items()}
        key_list = list(keys)
        for i in range(0, len(key_list), self.mapping.page_size):
            chunk = key_list[i:i + self.mapping.page_size]
            rows = self._rows(sa.select(t).where(t.c[r.client].in_(chunk)).order_by(t.c[r.key]))
            self._stats["relationship_reads"] += 1
            for row in rows:
                out[owner[str(row[r.client]).casefold()]].append(self._relationship(row))
        return out

    def _relationship(self, row: Mapping[str, Any]) -> Relationship:
        r = self.mapping.relationships
        assert r is not None
        f = {name: row[col] for name, col in r.fields.items()}
        return Relationship(
            id=str(row[r.key]), client_id=str(row[r.client]), related_client_id=str(row[r.related]),
            type=r.canonical(_text(row[r.type_column])), start_date=_date(f.get("start_date")),
            end_date=_date(f.get("end_date")),
            number_of_shares=int(f["number_of_shares"]) if f.get("number_of_shares") is not None else None,
            percentage=float(f["percentage"]) if f.get("percentage") is not None else None,
        )

    def list_groups(self, *, members: bool = True) -> list[ClientGroup]:
        """Family groups as client groups; their members come in the same read (one query), so `members`
        changes nothing."""
        g = self.mapping.family_groups
        if g is None:
            return []
        t = self._table(g.table, [g.key, g.name, *([g.taxable] if g.taxable else [])])
        c = self._clients_table()
        groups = self._rows(sa.select(t).order_by(t.c[g.key]))
        members: dict[Any, list[str]] = {}
        member_col = c.c[g.member_column]
        for row in self._rows(sa.select(c.c[self.mapping.key], member_col).where(member_col.is_not(None))
                              .order_by(c.c[self.mapping.key])):
            members.setdefault(row[g.member_column], []).append(str(row[self.mapping.key]))
        self._stats["group_reads"] += 1
        return [ClientGroup(id=str(row[g.key]), name=_text(row[g.name]) or "", member_ids=tuple(members.get(row[g.key], [])),
                            taxable=_truthy(row[g.taxable]) if g.taxable else None) for row in groups]

    def add_relationship(self, rel: Relationship) -> Relationship:
        raise WritesDisabled("syncworker does not write relationships to APS (it reads them)")

    def delete_relationship(self, relationship_id: str) -> None:
        raise WritesDisabled("syncworker does not write relationships to APS (it reads them)")

    def add_group(self, group: ClientGroup) -> ClientGroup:
        raise WritesDisabled("syncworker does not write family groups to APS (it reads them)")

    def set_group_members(self, group_id: str, add: list[str], remove: list[str]) -> None:
        raise WritesDisabled("syncworker does not write family groups to APS (it reads them)")

    def delete_group(self, group_id: str) -> None:
        raise WritesDisabled("syncworker does not write family groups to APS (it reads them)")

    # --- bookkeeping ---
    def call_stats(self) -> dict[str, int]:
        return dict(self._stats)

    def close(self) -> None:
        self.engine.dispose()

    # --- time on the column's clock ---
    def _column_time(self, value: datetime) -> datetime:
        """A UTC time as the modified column holds it (naive, in the mapping's time zone)."""
        return _as_utc(value).astimezone(self.mapping.modified_timezone).replace(tzinfo=None)

    def _utc(self, naive: datetime) -> datetime:
        return naive.replace(tzinfo=self.mapping.modified_timezone).astimezone(UTC)


# --- value helpers ---
def _first_word(statement: str) -> str:
    m = re.match(r"\s*(?:/\*.*?\*/\s*|--[^\n]*\n\s*)*([A-Za-z]+)", statement, re.S)
    return m.group(1).upper() if m else ""


def _plain_select(statement: str) -> bool:
    """A SELECT that neither stores its result (INTO) nor takes locks (FOR UPDATE / SHARE, LOCK IN SHARE MODE).
    Quoted names and string literals are left out of the check (a column may be called "Lock")."""
    return _first_word(statement) == "SELECT" and not _CHANGES_DATA.search(_QUOTED.sub("_", statement))


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0][:300]


def _fold(value: str) -> str:
    return " ".join(value.split()).casefold()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    if isinstance(value, Decimal):
        value = format(value, "f")
    text = str(value).strip()
    return text or None


def _truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool | int):
        return bool(value)
    if isinstance(value, bytes):
        return any(value)
    return str(value).strip().casefold() in _TRUE


def _date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rv_int(value: Any) -> int:
    return int.from_bytes(value, "big") if isinstance(value, bytes | bytearray) else int(value)


def _split_emails(value: str | None, separators: str) -> list[str]:
    if not value:
        return []
    parts = re.split(f"[{re.escape(separators)}]+", value) if separators else [value]
    seen: list[str] = []
    for p in (x.strip().strip("<>") for x in parts):
        if p and p.casefold() not in {s.casefold() for s in seen}:
            seen.append(p)
    return seen


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

