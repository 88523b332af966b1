"""The declarative mapping (config/aps.yaml) of APS's SQL database onto the canonical profile.

APS publishes no schema, so which tables and columns hold clients, kinds, names, addresses, identifiers,
contacts, family groups and relationships is configuration, not code. `ApsMapping.load` checks the file's
shape (a bad value is named with its path in the file); `ApsClient` then checks every table and column named
here against the live database before it reads anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from adapters.errors import AdapterError
from syncworker.config import BUNDLED_CONFIG_DIR, config_file
from syncworker.domain.profile import ClientKind

DEFAULT_MAPPING_FILE = BUNDLED_CONFIG_DIR / "aps.yaml"  # the bundled default; load() honours SYNCWORKER_CONFIG_DIR

CLIENT_FIELDS = ("name", "given_name", "middle_name", "family_name", "phone", "mobile", "website", "date_of_birth")
IDENTIFIER_FIELDS = ("tax_number", "business_number", "company_number")
ADDRESS_PARTS = ("line1", "line2", "city", "region", "postcode", "country")
ADDRESS_KINDS = ("address", "postal_address")
CONTACT_FIELDS = ("name", "given_name", "family_name", "email", "phone", "mobile", "position", "is_primary")
RELATIONSHIP_FIELDS = ("number_of_shares", "percentage", "start_date", "end_date")


class MappingError(AdapterError, ValueError):
    """The mapping is malformed, or names a table or column the database does not have (or the database
    cannot be reached to check it)."""


@dataclass(frozen=True)
class Addresses:
    table: str
    key: str | None
    client: str
    type_column: str
    types: Mapping[str, str]  # canonical (address / postal_address) -> the type value in the table
    fields: Mapping[str, str]  # line1..country -> column


@dataclass(frozen=True)
class Contacts:
    table: str
    key: str
    client: str
    fields: Mapping[str, str]


@dataclass(frozen=True)
class FamilyGroups:
    table: str
    key: str
    name: str
    member_column: str  # on the clients table
    taxable: str | None = None


@dataclass(frozen=True)
class Relationships:
    table: str
    key: str
    client: str
    related: str
    type_column: str
    types: Mapping[str, str]  # APS name -> canonical type
    fields: Mapping[str, str]

    def canonical(self, name: str | None) -> str:
        if not name:
            return "unknown"
        folded = {_fold(k): v for k, v in self.types.items()}
        return folded.get(_fold(name)) or "_".join(name.lower().split())


@dataclass(frozen=True)
class ApsMapping:
    source: str  # where the mapping came from, for error messages
    table: str
    key: str
    schema: str | None = None
    page_size: int = 500
    modified: str | None = None
    modified_timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    rowversion: str | None = None
    include_archived_in_full_read: bool = False
    kind_column: str | None = None
    kinds: Mapping[str, ClientKind] = field(default_factory=dict)
    category_column: str | None = None
    prospect_values: tuple[str, ...] = ()
    archived: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)  # canonical -> column (incl. identifiers)
    email_column: str | None = None
    email_separators: str = ";, "
    extra: Mapping[str, str] = field(default_factory=dict)
    addresses: Addresses | None = None
    contacts: Contacts | None = None
    family_groups: FamilyGroups | None = None
    relationships: Relationships | None = None
    touch_modified: bool = True
    bump_rowversion: bool = False

    # --- loading ---
    @classmethod
    def load(cls, path: str | Path | None = None) -> ApsMapping:
        p = Path(path) if path else config_file("aps.yaml")
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise MappingError(f"APS mapping {p}: cannot be read ({exc.strerror or exc})") from None
        return cls.parse(text, source=str(p))

    @classmethod
    def parse(cls, text: str, *, source: str = "the APS mapping") -> ApsMapping:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise MappingError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(raw, dict):
            raise MappingError(f"{source}: expected a mapping with a `clients` section")
        return _Reader(raw, source).mapping()

    # --- what the database must have ---
    def required_columns(self) -> Iterator[tuple[str, str, str]]:
        """(table, column, where in the file) for every column the mapping names."""
        c = "clients"
        yield self.table, self.key, f"{c}.key"
        for name, where in ((self.modified, "modified"), (self.rowversion, "rowversion"),
                            (self.kind_column, "kind.column"), (self.category_column, "category.column"),
                            (self.archived, "archived"), (self.email_column, "emails.column")):
            if name:
                yield self.table, name, f"{c}.{where}"
        for canonical, column in {**self.fields, **self.extra}.items():
            section = "identifiers" if canonical in IDENTIFIER_FIELDS else "extra" if canonical in self.extra \
                else "fields"
            yield self.table, column, f"{c}.{section}.{canonical}"
        if a := self.addresses:
            for name, where in ((a.key, "key"), (a.client, "client"), (a.type_column, "type_column")):
                if name:
                    yield a.table, name, f"addresses.{where}"
            for part, column in a.fields.items():
                yield a.table, column, f"addresses.fields.{part}"
        if ct := self.contacts:
            yield ct.table, ct.key, "contacts.key"
            yield ct.table, ct.client, "contacts.client"
            for f, column in ct.fields.items():
                yield ct.table, column, f"contacts.fields.{f}"
        if g := self.family_groups:
            yield g.table, g.key, "family_groups.key"
            yield g.table, g.name, "family_groups.name"
            if g.taxable:
                yield g.table, g.taxable, "family_groups.taxable"
            yield self.table, g.member_column, "family_groups.member_column"
        if r := self.relationships:
            for name, where in ((r.key, "key"), (r.client, "client"), (r.related, "related"),
                                (r.type_column, "type_column")):
                yield r.table, name, f"relationships.{where}"
            for f, column in r.fields.items():
                yield r.table, column, f"relationships.fields.{f}"

    def kind_for(self, value: Any) -> ClientKind | None:
        if value is None:
            return None
        return self.kinds.get(_fold(str(value)))

    def kind_value(self, kind: ClientKind) -> str | None:
        for name, k in self.kinds.items():
            if k == kind:
                return name
        return None


def _fold(value: str) -> str:
    return " ".join(value.split()).casefold()


class _Reader:
    """Reads the YAML tree, naming the dotted path of anything missing or of the wrong type."""

    def __init__(self, raw: dict[str, Any], source: str) -> None:
        self.raw, self.source = raw, source

    def fail(self, where: str, why: str) -> MappingError:
        return MappingError(f"{self.source}: {where} {why}")

    def section(self, parent: Mapping[str, Any], name: str, where: str, *, required: bool = False) -> dict | None:
        value = parent.get(name)
        if value is None:
            if required:
                raise self.fail(f"{where}{name}", "is missing")
            return None
        if not isinstance(value, dict):
            raise self.fail(f"{where}{name}", "must be a mapping")
        return value

    def name(self, parent: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
        value = parent.get(key)
        if value is None or value == "":
            if required:
                raise self.fail(f"{where}.{key}", "is missing (a table or column name)")
            return None
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise self.fail(f"{where}.{key}", f"must be a table or column name, not {value!r}")
        return str(value)

    def names(self, parent: Mapping[str, Any], key: str, where: str, allowed: tuple[str, ...]) -> dict[str, str]:
        sec = self.section(parent, key, f"{where}.") or {}
        out = {}
        for k in sec:
            if k not in allowed:
                raise self.fail(f"{where}.{key}.{k}", f"is not a canonical field (expected one of {', '.join(allowed)})")
            column = self.name(sec, k, f"{where}.{key}", required=False)
            if column:
                out[k] = column
        return out

    def mapping(self) -> ApsMapping:
        raw = self.raw
        c = self.section(raw, "clients", "", required=True)
        assert c is not None
        page_size = raw.get("page_size", 500)
        if not isinstance(page_size, int) or isinstance(page_size, bool) or not 1 <= page_size <= 10_000:
            raise self.fail("page_size", f"must be a whole number from 1 to 10000, not {page_size!r}")
        tz_name = c.get("modified_timezone") or "UTC"
        try:
            tz = ZoneInfo(str(tz_name))
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail("clients.modified_timezone", f"is not a time zone name: {tz_name!r}") from None
        kind = self.section(c, "kind", "clients.") or {}
        kinds: dict[str, ClientKind] = {}
        for value, canonical in (self.section(kind, "values", "clients.kind.") or {}).items():
            try:
                kinds[_fold(str(value))] = ClientKind(str(canonical))
            except ValueError:
                raise self.fail(f"clients.kind.values.{value}", f"names no kind: {canonical!r} (expected one of "
                                f"{', '.join(k.value for k in ClientKind)})") from None
        category = self.section(c, "category", "clients.") or {}
        prospect = category.get("prospect") or []
        emails = self.section(c, "emails", "clients.") or {}
        fields = self.names(c, "fields", "clients", CLIENT_FIELDS)
        fields.update(self.names(c, "identifiers", "clients", IDENTIFIER_FIELDS))
        extra = {str(k): str(v) for k, v in (self.section(c, "extra", "clients.") or {}).items() if v}
        writes = self.section(raw, "writes", "") or {}
        return ApsMapping(
            source=self.source, schema=raw.get("schema") or None, page_size=page_size,
            table=self.name(c, "table", "clients"), key=self.name(c, "key", "clients"),  # type: ignore[arg-type]
            modified=self.name(c, "modified", "clients", required=False), modified_timezone=tz,
            rowversion=self.name(c, "rowversion", "clients", required=False),
            include_archived_in_full_read=bool(c.get("include_archived_in_full_read", False)),
            kind_column=self.name(kind, "column", "clients.kind", required=bool(kinds)), kinds=kinds,
            category_column=self.name(category, "column", "clients.category", required=bool(prospect)),
            prospect_values=tuple(_fold(str(p)) for p in (prospect if isinstance(prospect, list) else [prospect])),
            archived=self.name(c, "archived", "clients", required=False), fields=fields,
            email_column=self.name(emails, "column", "clients.emails", required=False),
            email_separators=str(emails.get("separators") or ";, "), extra=extra,
            addresses=self.addresses(), contacts=self.contacts(), family_groups=self.family_groups(),
            relationships=self.relationships(),
            touch_modified=bool(writes.get("touch_modified", True)),
            bump_rowversion=bool(writes.get("bump_rowversion", False)),
        )

    def addresses(self) -> Addresses | None:
        a = self.section(self.raw, "addresses", "")
        if a is None:
            return None
        types = {str(k): str(v) for k, v in (self.section(a, "types", "addresses.", required=True) or {}).items()}
        unknown = set(types) - set(ADDRESS_KINDS)
        if unknown:
            raise self.fail(f"addresses.types.{sorted(unknown)[0]}", "must be address or postal_address")
        return Addresses(table=self.name(a, "table", "addresses"), key=self.name(a, "key", "addresses", required=False),  # type: ignore[arg-type]
                         client=self.name(a, "client", "addresses"), type_column=self.name(a, "type_column", "addresses"),  # type: ignore[arg-type]
                         types=types, fields=self.names(a, "fields", "addresses", ADDRESS_PARTS))

    def contacts(self) -> Contacts | None:
        ct = self.section(self.raw, "contacts", "")
        if ct is None:
            return None
        return Contacts(table=self.name(ct, "table", "contacts"), key=self.name(ct, "key", "contacts"),  # type: ignore[arg-type]
                        client=self.name(ct, "client", "contacts"), fields=self.names(ct, "fields", "contacts", CONTACT_FIELDS))  # type: ignore[arg-type]

    def family_groups(self) -> FamilyGroups | None:
        g = self.section(self.raw, "family_groups", "")
        if g is None:
            return None
        return FamilyGroups(table=self.name(g, "table", "family_groups"), key=self.name(g, "key", "family_groups"),  # type: ignore[arg-type]
                            name=self.name(g, "name", "family_groups"),  # type: ignore[arg-type]
                            member_column=self.name(g, "member_column", "family_groups"),  # type: ignore[arg-type]
                            taxable=self.name(g, "taxable", "family_groups", required=False))

    def relationships(self) -> Relationships | None:
        r = self.section(self.raw, "relationships", "")
        if r is None:
            return None
        types = {str(k): str(v) for k, v in (self.section(r, "types", "relationships.") or {}).items()}
        return Relationships(
            table=self.name(r, "table", "relationships"), key=self.name(r, "key", "relationships"),  # type: ignore[arg-type]
            client=self.name(r, "client", "relationships"), related=self.name(r, "related", "relationships"),  # type: ignore[arg-type]
            type_column=self.name(r, "type_column", "relationships"), types=types,  # type: ignore[arg-type]
            fields=self.names(r, "fields", "relationships", RELATIONSHIP_FIELDS),
        )
