"""Relationships and client groups round trip through the simulator's XML endpoints."""

from __future__ import annotations

from datetime import timedelta

import pytest

from simulators.xpm import XpmSimulator

pytestmark = pytest.mark.e2e


def _two_clients(sim: XpmSimulator) -> tuple[str, str]:
    live = sorted(c.uuid for c in sim.store.clients.values() if not c.is_deleted and not c.is_archived)
    return live[0], live[1]


def _relationships(xpm, client_uuid: str) -> list:
    return xpm.ok("GET", f"client.api/get/{client_uuid}").findall("Client/Relationships/Relationship")


def test_seeded_practice_has_relationships_and_groups_in_detailed_output(sim: XpmSimulator, xpm) -> None:
    assert sim.store.relationships and sim.store.groups
    rel = next(iter(sim.store.relationships.values()))
    shown = _relationships(xpm, rel.client_uuid)
    assert rel.uuid in {r.findtext("UUID") for r in shown}
    group = next(iter(sim.store.groups.values()))
    detailed = xpm.ok("GET", "client.api/list", detailed="true").findall("Clients/Client")
    member = next(c for c in detailed if c.findtext("UUID") == group.members[0])
    assert group.uuid in {g.findtext("UUID") for g in member.findall("Groups/Group")}
    plain = xpm.ok("GET", "client.api/list").find("Clients/Client")
    assert plain is not None and plain.find("Groups") is None and plain.find("Relationships") is None


def test_relationship_add_update_delete_round_trip(sim: XpmSimulator, xpm) -> None:
    a, b = _two_clients(sim)
    since = (sim.clock.now() - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    added = xpm.ok("POST", "client.api/addrelationship",
                   f"<Relationship><ClientUUID>{a}</ClientUUID><RelatedClientUUID>{b}</RelatedClientUUID>"
                   "<Type>Shareholder</Type><NumberOfShares>1000</NumberOfShares><StartDate>2020-07-01</StartDate></Relationship>")
    rel_uuid = added.findtext("Relationship/UUID")
    assert rel_uuid
    shown = next(r for r in _relationships(xpm, a) if r.findtext("UUID") == rel_uuid)
    assert (shown.findtext("Type"), shown.findtext("RelatedClient/UUID"), shown.findtext("NumberOfShares")) == ("Shareholder", b, "1000")
    assert shown.findtext("StartDate") == "2020-07-01"
    assert rel_uuid not in {r.findtext("UUID") for r in _relationships(xpm, b)}  # no automatic inverse
    changed = {c.findtext("UUID") for c in xpm.ok("GET", "client.api/list", modifiedsince=since).findall("Clients/Client")}
    assert {a, b} <= changed

    xpm.ok("PUT", "client.api/updaterelationship",
           f"<Relationship><UUID>{rel_uuid}</UUID><NumberOfShares>250</NumberOfShares><Type>Director</Type></Relationship>")
    shown = next(r for r in _relationships(xpm, a) if r.findtext("UUID") == rel_uuid)
    assert (shown.findtext("NumberOfShares"), shown.findtext("Type")) == ("250", "Shareholder")  # type cannot change

    xpm.ok("POST", "client.api/deleterelationship", f"<Relationship><UUID>{rel_uuid}</UUID></Relationship>")
    assert rel_uuid not in {r.findtext("UUID") for r in _relationships(xpm, a)}
    gone = xpm.xml("POST", "client.api/deleterelationship", f"<Relationship><UUID>{rel_uuid}</UUID></Relationship>")
    assert gone.findtext("Status") == "ERROR"


@pytest.mark.parametrize("body", [
    "<ClientUUID>{a}</ClientUUID><RelatedClientUUID>{a}</RelatedClientUUID><Type>Director</Type>",
    "<ClientUUID>{a}</ClientUUID><RelatedClientUUID>{b}</RelatedClientUUID><Type>Best Friend</Type>",
    "<ClientUUID>{a}</ClientUUID><RelatedClientUUID>00000000-0000-4000-8000-000000000000</RelatedClientUUID><Type>Director</Type>",
])
def test_invalid_relationships_are_refused_on_http_200(sim: XpmSimulator, xpm, body: str) -> None:
    a, b = _two_clients(sim)
    root = xpm.xml("POST", "client.api/addrelationship", f"<Relationship>{body.format(a=a, b=b)}</Relationship>")
    assert root.findtext("Status") == "ERROR" and root.findtext("ErrorDescription")


def test_the_same_relationship_twice_is_refused(sim: XpmSimulator, xpm) -> None:
    a, b = _two_clients(sim)
    body = f"<Relationship><ClientUUID>{a}</ClientUUID><RelatedClientUUID>{b}</RelatedClientUUID><Type>Director</Type></Relationship>"
    xpm.ok("POST", "client.api/addrelationship", body)
    assert xpm.xml("POST", "client.api/addrelationship", body).findtext("Status") == "ERROR"


def test_partner_percentage_kept_and_shares_ignored_for_other_types(sim: XpmSimulator, xpm) -> None:
    a, b = _two_clients(sim)
    rel = xpm.ok("POST", "client.api/addrelationship",
                 f"<Relationship><ClientUUID>{a}</ClientUUID><RelatedClientUUID>{b}</RelatedClientUUID><Type>Partner</Type>"
                 "<Percentage>25</Percentage><NumberOfShares>9</NumberOfShares></Relationship>").find("Relationship")
    assert rel is not None
    assert (rel.findtext("Percentage"), rel.findtext("NumberOfShares")) == ("25", "")


def test_group_add_members_list_get_delete_round_trip(sim: XpmSimulator, xpm) -> None:
    a, b = _two_clients(sim)
    added = xpm.ok("POST", "clientgroup.api/add",
                   f"<Group><Name>Bloggs Family</Name><Taxable>Yes</Taxable><ClientUUID>{a}</ClientUUID></Group>")
    group_uuid = added.findtext("Group/UUID")
    assert added.findtext("Group/Taxable") == "Yes"
    assert [c.findtext("UUID") for c in added.findall("Group/Clients/Client")] == [a]

    after = xpm.ok("PUT", "clientgroup.api/members", f'<Group><UUID>{group_uuid}</UUID><add uuid="{b}" /></Group>')
    assert {c.findtext("UUID") for c in after.findall("Group/Clients/Client")} == {a, b}
    after = xpm.ok("PUT", "clientgroup.api/members", f'<Group><UUID>{group_uuid}</UUID><remove uuid="{a}" /></Group>')
    assert [c.findtext("UUID") for c in after.findall("Group/Clients/Client")] == [b]

    listed = xpm.ok("GET", "clientgroup.api/list").findall("Groups/Group")
    mine = next(g for g in listed if g.findtext("UUID") == group_uuid)
    assert mine.findtext("Name") == "Bloggs Family" and mine.find("Clients") is None
    assert group_uuid in {g.findtext("UUID") for g in xpm.ok("GET", f"client.api/get/{b}").findall("Client/Groups/Group")}

    xpm.ok("POST", "clientgroup.api/delete", f"<Group><UUID>{group_uuid}</UUID></Group>")
    assert xpm.call("GET", f"clientgroup.api/get/{group_uuid}").status_code == 404
    assert group_uuid not in {g.findtext("UUID") for g in xpm.ok("GET", f"client.api/get/{b}").findall("Client/Groups/Group")}


def test_group_add_needs_a_client(xpm) -> None:
    assert xpm.xml("POST", "clientgroup.api/add", "<Group><Name>Orphans</Name></Group>").findtext("Status") == "ERROR"


def test_a_client_can_be_in_several_groups(sim: XpmSimulator, xpm) -> None:
    a, _ = _two_clients(sim)
    for name in ("Family", "Business interests"):
        xpm.ok("POST", "clientgroup.api/add", f"<Group><Name>{name}</Name><ClientUUID>{a}</ClientUUID></Group>")
    names = {g.findtext("Name") for g in xpm.ok("GET", f"client.api/get/{a}").findall("Client/Groups/Group")}
    assert {"Family", "Business interests"} <= names
