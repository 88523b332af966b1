"""The APS adapter on its stand-in database, on SQLite, PostgreSQL and MariaDB: the same tests on each, so
the mapping and the SQL are shown to be dialect-neutral."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from adapters.aps.client import ApsClient, WritesDisabled
from adapters.aps.mapping import DEFAULT_MAPPING_FILE, ApsMapping, MappingError
from simulators.aps import StandIn, build
from syncworker.domain.profile import ClientKind, ClientStatus


def mapping(**replace: str) -> ApsMapping:
    text = DEFAULT_MAPPING_FILE.read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return ApsMapping.parse(text, source="test mapping")


@pytest.fixture
def standin(aps_url: str) -> Iterator[StandIn]:
    s, _ = build(aps_url, 60, 3)
    yield s
    s.dispose()


def entity_rows(s: StandIn) -> list[dict]:
    with s.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(s.table("Entity")).order_by("EntityID")).mappings()]


def test_full_read_pages_by_key_and_resumes_after_the_last_stored_page(standin: StandIn) -> None:
    aps = ApsClient(standin.url, mapping(**{"page_size: 500": "page_size: 7"}))
    pages = list(aps.iter_client_pages())
    rows = entity_rows(standin)
    active = [str(r["EntityID"]) for r in rows if not r["Archived"]]
    assert [p.id for page in pages for p in page.items] == active  # archived left out, as XPM's listing does
    assert len(pages) == len(rows) // 7 + 1
    assert pages[-1].checkpoint is None and all(p.checkpoint for p in pages[:-1])
    resumed = list(aps.iter_client_pages(resume_from=pages[2].checkpoint))
    assert [p.id for page in resumed for p in page.items] == [p.id for page in pages[3:] for p in page.items]


def test_a_client_reads_as_the_canonical_profile(standin: StandIn) -> None:
    rows = entity_rows(standin)
    person = next(r for r in rows if r["EntityType"] == "Individual" and r["FirstName"] and r["FamilyGroupID"])
    standin.edit_client(person["EntityID"], Email="Jo@Example.com; jo.work@example.com,jo@example.com",
                        Category="Prospect")
    p = ApsClient(standin.url).get_client(str(person["EntityID"]))
    assert p is not None
    assert (p.kind, p.given_name, p.family_name) == (ClientKind.INDIVIDUAL, person["FirstName"], person["Surname"])
    assert p.email == "Jo@Example.com" and p.extra["other_emails"] == ["jo.work@example.com"]
    assert p.extra["is_prospect"] is True and p.extra["group_ids"] == [str(person["FamilyGroupID"])]
    street = standin.address(person["EntityID"])
    assert street is not None and p.address is not None and p.address.city == street["Suburb"]
    assert p.modified_at is not None and p.modified_at.tzinfo is not None
    company = next(r for r in rows if r["EntityType"] == "Company")
    c = ApsClient(standin.url).get_client(str(company["EntityID"]))
    assert c is not None and c.kind == ClientKind.COMPANY and c.given_name is None
    assert ApsClient(standin.url).get_client("999999") is None
    assert ApsClient(standin.url).get_client("not-a-key") is None
    some = [str(r["EntityID"]) for r in rows[:3]]
    assert {p.id for p in ApsClient(standin.url).get_clients([*some, some[0], "999999", "nope"])} == set(some)


def test_incremental_reads_what_changed_since_and_hands_back_a_cursor(standin: StandIn) -> None:
    aps = ApsClient(standin.url)
    since = datetime.now(UTC) - timedelta(seconds=5)
    assert [p.items for p in aps.iter_client_pages(modified_since=since)] == [[]]
    rows = entity_rows(standin)
    archived = next(r for r in rows if r["Archived"])
    standin.edit_client(rows[0]["EntityID"], Phone="02 9999 0000")
    standin.edit_client(archived["EntityID"], Name="Renamed While Archived")
    pages = list(aps.iter_client_pages(modified_since=since))
    got = {p.id: p for page in pages for p in page.items}
    assert set(got) == {str(rows[0]["EntityID"]), str(archived["EntityID"])}
    assert got[str(archived["EntityID"])].status == ClientStatus.ARCHIVED  # incremental reads include archived
    assert got[str(rows[0]["EntityID"])].phone == "02 9999 0000"
    assert all(p.incremental for p in pages)
    cursor = datetime.fromisoformat(pages[-1].checkpoint.removeprefix("since:"))
    assert since <= cursor <= datetime.now(UTC)
    # The rowversion cursor: what changed after a change counter.
    before = max(r["RowVer"] for r in rows)
    rv_pages = list(aps.iter_client_pages(resume_from=f"rv:{before}"))
    assert {p.id for page in rv_pages for p in page.items} == set(got)
    assert rv_pages[-1].checkpoint == f"rv:{before + 2}"


def test_without_a_modified_column_a_modified_since_request_is_a_full_read(standin: StandIn) -> None:
    aps = ApsClient(standin.url, mapping(**{"modified: ModifiedDate ": "modified: null "}))
    assert aps.capabilities.incremental is False
    pages = list(aps.iter_client_pages(modified_since=datetime.now(UTC)))
    assert sum(len(p.items) for p in pages) == sum(1 for r in entity_rows(standin) if not r["Archived"])
    assert not any(p.incremental for p in pages)


def test_family_groups_relationships_and_contacts(standin: StandIn) -> None:
    aps = ApsClient(standin.url)
    groups = aps.list_groups()
    rows = entity_rows(standin)
    by_group: dict[str, set[str]] = {}
    for r in rows:
        if r["FamilyGroupID"]:
            by_group.setdefault(str(r["FamilyGroupID"]), set()).add(str(r["EntityID"]))
    assert groups and {g.id: set(g.member_ids) for g in groups if g.member_ids} == by_group
    with standin.engine.connect() as conn:
        rel = conn.execute(sa.select(standin.table("EntityRelationship"))).mappings().first()
        n_contacts = conn.execute(sa.select(sa.func.count()).select_from(standin.table("ClientContact"))).scalar()
    assert rel is not None
    found = aps.list_relationships(str(rel["EntityID"]))
    assert any(r.related_client_id == str(rel["RelatedEntityID"]) and r.type == rel["RelationshipType"].lower().replace(" ", "_")
               for r in found)
    contacts = [c for page in aps.iter_contact_pages() for c in page.items]
    assert len(contacts) == n_contacts and all(c.client_ids for c in contacts)
    assert aps.search_clients(rows[0]["Name"].split()[0])[0].name


def test_relationships_of_many_clients_are_read_a_page_of_keys_per_query(standin: StandIn) -> None:
    """The batched read answers exactly what one read per client does, in one query per page of keys (an
    IN-list), whatever the number of clients; unknown and malformed keys read as no relationships."""
    aps = ApsClient(standin.url, mapping(**{"page_size: 500": "page_size: 7"}))
    ids = [str(r["EntityID"]) for r in entity_rows(standin)] + ["999999", "not-a-key"]
    one_by_one = {cid: aps.list_relationships(cid) for cid in ids}
    before = aps.call_stats().get("relationship_reads", 0)
    batched = aps.list_relationships_of(ids)
    assert batched == one_by_one and any(batched.values()) and batched["999999"] == batched["not-a-key"] == []
    assert aps.call_stats()["relationship_reads"] - before == -(-(len(ids) - 1) // 7)  # "not-a-key": no query
    assert aps.read_batch_size == 7


@pytest.mark.parametrize(("old", "new", "named"), [
    ("  table: Entity\n", "  table: Entities\n", "Entities"),
    ("    family_name: Surname\n", "    family_name: LastName\n", "Entity.LastName"),
    ("  type_column: AddressType\n", "  type_column: Kind\n", "EntityAddress.Kind"),
    ("  member_column: FamilyGroupID ", "  member_column: Family ", "Entity.Family"),
])
def test_a_mapping_naming_a_missing_table_or_column_is_refused_naming_it(standin: StandIn, old: str, new: str,
                                                                          named: str) -> None:
    with pytest.raises(MappingError) as err:
        ApsClient(standin.url, mapping(**{old: new}))
    message = str(err.value)
    assert named in message and "\n" not in message


def test_with_writes_off_only_select_statements_reach_the_database(standin: StandIn) -> None:
    aps = ApsClient(standin.url, validate=False)
    with aps.engine.connect():
        pass  # the dialect's one-off start-up queries (server version, ...) are not ours
    sent: list[str] = []
    sa.event.listen(aps.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *args: sent.append(statement))
    aps.validate()
    first = next(iter(aps.iter_client_pages()))
    list(aps.iter_client_pages(modified_since=datetime.now(UTC) - timedelta(days=3650)))
    list(aps.iter_contact_pages())
    aps.list_groups()
    aps.list_relationships(first.items[0].id)
    aps.search_clients("smith")
    aps.get_client(first.items[0].id)
    with pytest.raises(WritesDisabled):
        aps.update_client(first.items[0].id, {"phone": "1"})
    # A write slipping past the port is stopped by the engine guard before the database sees it: anything but a
    # plain SELECT, not only statements that start with a word that writes.
    q = aps.engine.dialect.identifier_preparer.quote
    before = entity_rows(standin)
    for sneaky in (f"UPDATE {q('Entity')} SET {q('Phone')} = NULL",
                   f"WITH x AS (SELECT 1 AS y) DELETE FROM {q('Entity')}",
                   f"SELECT * INTO {q('EntityCopy')} FROM {q('Entity')}",
                   f"SELECT * FROM {q('Entity')} FOR UPDATE",
                   f"/* a comment first */ DELETE FROM {q('Entity')}",
                   "SET @x = 1"):
        with pytest.raises(WritesDisabled), aps.engine.begin() as conn:
            conn.execute(sa.text(sneaky))
    assert entity_rows(standin) == before
    with aps.engine.connect() as conn:  # a column called "Lock" or "Into" is a name, not a lock
        assert conn.execute(sa.text(f"SELECT {q('Name')} AS {q('Into')} FROM {q('Entity')} "
                                    f"WHERE {q('Name')} = 'for update'")).all() == []
    assert len(sent) > 10
    assert [s for s in sent if not s.lstrip().upper().startswith("SELECT")] == []
    assert entity_rows(standin)[0]["Phone"] == first.items[0].phone or first.items[0].phone is None


def test_allowed_fields_are_written_in_one_transaction(standin: StandIn) -> None:
    rows = entity_rows(standin)
    target = next(r for r in rows if r["Email"] and not r["Archived"])
    standin.edit_client(target["EntityID"], Email=f"{target['Email'].split(';')[0]}; second@example.com")
    before = standin.row(target["EntityID"])
    aps = ApsClient(standin.url, writable_fields={"phone", "email", "postal_address.city", "postal_address.line1"})
    assert aps.capabilities.can_update and aps.capabilities.writable_fields == {"phone", "email", "postal_address.city",
                                                                                 "postal_address.line1"}
    with pytest.raises(ValueError, match="name"):
        aps.update_client(str(target["EntityID"]), {"name": "Not Allowed"})
    stored = aps.update_client(str(target["EntityID"]), {"phone": "07 3000 1111", "email": "new@example.com",
                                                         "postal_address.city": "Brisbane",
                                                         "postal_address.line1": "PO Box 9"})
    after = standin.row(target["EntityID"])
    assert after["Phone"] == "07 3000 1111" and after["Email"] == "new@example.com; second@example.com"
    assert after["ModifiedDate"] > before["ModifiedDate"] and after["RowVer"] > max(r["RowVer"] for r in rows)
    assert stored.phone == "07 3000 1111" and stored.email == "new@example.com"
    assert stored.postal_address is not None and stored.postal_address.city == "Brisbane"
    assert after["Name"] == before["Name"]
    # A write that fails part-way leaves nothing behind: the client row rolls back with the address.
    standin.table("EntityAddress").drop(standin.engine)
    with pytest.raises(Exception):  # noqa: B017 - the database's own error, mapped by the adapter
        aps.update_client(str(target["EntityID"]), {"phone": "1", "postal_address.city": "Cairns"})
    assert standin.row(target["EntityID"])["Phone"] == "07 3000 1111"


def test_writes_name_only_fields_the_mapping_can_write(standin: StandIn) -> None:
    with pytest.raises(MappingError, match="status"):
        ApsClient(standin.url, writable_fields={"status"})


@pytest.mark.parametrize("url", [
    "mssql+pymssql://aps_reader:s3cret@practice-sql:1433/APS",
    "mssql+pyodbc://aps_reader:s3cret@practice-sql/APS?driver=ODBC+Driver+18+for+SQL+Server&Encrypt=yes",
    "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BODBC+Driver+18+for+SQL+Server%7D%3BSERVER%3Dpractice-sql%3B"
    "UID%3Daps_reader%3BPWD%3Ds3cret%3BEncrypt%3Dyes",
    "postgresql://practice-db/aps?user=aps_reader&password=s3cret&sslmode=require",
])
def test_a_database_url_is_shown_without_its_password(url: str) -> None:
    from adapters.aps.client import redact

    shown = redact(url)
    assert "s3cret" not in shown and "***" in shown
    assert "practice-" in shown  # where it points stays readable
