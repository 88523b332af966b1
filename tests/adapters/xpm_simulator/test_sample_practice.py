"""The sample-practice generator: deterministic, fast, realistic noise, and a consistent answer key."""

from __future__ import annotations

import csv
import re
import time
from collections import Counter

import pytest

from syncworker.domain.profile import CLIENT_CSV_COLUMNS, CONTACT_CSV_COLUMNS, ClientKind, ClientStatus
from syncworker.sample import generate_practice
from syncworker.sample.identifiers import abn_is_valid, ird_is_valid, make_abn, make_acn, tfn_is_valid


@pytest.fixture(scope="module")
def practice():
    return generate_practice(1500, seed=42)


def _fingerprint(p) -> tuple:
    return ([(c.id, c.name, c.email, c.tax_number) for c in p.local], [(c.id, c.name, c.status) for c in p.remote],
            sorted(p.truth.items()), [(r.client_id, r.related_client_id, r.type) for r in p.remote_relationships])


def test_same_seed_same_practice_other_seed_other_practice() -> None:
    assert _fingerprint(generate_practice(300, 5)) == _fingerprint(generate_practice(300, 5))
    assert _fingerprint(generate_practice(300, 5)) != _fingerprint(generate_practice(300, 6))


def test_5000_clients_generate_well_under_two_seconds() -> None:
    # CPU time of this process, not wall time: the suite shares two cores with servers and other tests.
    started = time.process_time()
    p = generate_practice(5000, seed=1)
    assert time.process_time() - started < 2.0
    assert len(p.local) == 5000 and len(p.remote) == 5000


def test_every_kind_is_present_and_ids_have_the_expected_shapes(practice) -> None:
    kinds = Counter(c.kind for c in practice.local)
    for kind in (ClientKind.INDIVIDUAL, ClientKind.COMPANY, ClientKind.TRUST, ClientKind.PARTNERSHIP, ClientKind.SOLE_TRADER):
        assert kinds[kind] > 0, kind
    assert all(re.fullmatch(r"C\d{5}", c.id) for c in practice.local)
    assert all(re.fullmatch(r"[0-9a-f-]{36}", c.id) for c in practice.remote)
    assert len({c.id for c in practice.remote}) == len(practice.remote)


def test_truth_links_existing_records_and_one_sided_clients_are_listed(practice) -> None:
    local_ids, remote_ids = {c.id for c in practice.local}, {c.id for c in practice.remote}
    assert set(practice.truth) <= local_ids and set(practice.truth.values()) <= remote_ids
    assert practice.local_only and practice.remote_only
    assert not set(practice.local_only) & set(practice.truth)
    assert not set(practice.remote_only) & set(practice.truth.values())


def test_duplicates_exist_on_both_sides_and_local_duplicates_share_their_remote(practice) -> None:
    assert practice.local_duplicate_groups and practice.remote_duplicate_groups
    for group in practice.local_duplicate_groups:
        targets = {practice.truth.get(lid) for lid in group}
        assert len(targets) == 1


def test_remote_has_archived_and_deleted_records(practice) -> None:
    statuses = Counter(c.status for c in practice.remote)
    assert statuses[ClientStatus.ARCHIVED] > 0 and statuses[ClientStatus.DELETED] > 0


def test_remote_names_carry_realistic_noise(practice) -> None:
    remote = {c.id: c for c in practice.remote}
    pairs = [(lp, remote[practice.truth[lp.id]]) for lp in practice.local if lp.id in practice.truth]
    differing = [(lp.name, rp.name) for lp, rp in pairs if lp.name != rp.name]
    assert 0.2 < len(differing) / len(pairs) < 0.7
    remote_names = " | ".join(rp.name for _, rp in pairs)
    assert "The Trustee for" in remote_names
    assert "Proprietary Limited" in remote_names or "Pty. Ltd." in remote_names
    assert re.search(r"\w+, \w+ \w\. & \w+", remote_names)  # couples, "Slater, Thomas G. & Katherine I."
    assert any(rp.name == f"{lp.family_name}, {lp.given_name}" for lp, rp in pairs if lp.kind == ClientKind.INDIVIDUAL)


def test_households_share_surname_and_address_but_are_different_people(practice) -> None:
    by_home = Counter((c.family_name, c.address.line1, c.address.postcode) for c in practice.local
                      if c.kind == ClientKind.INDIVIDUAL and c.address and c.family_name)
    shared = [home for home, n in by_home.items() if n >= 2]
    assert shared
    dup_ids = set().union(*practice.local_duplicate_groups)
    home = shared[0]
    members = [c for c in practice.local if (c.family_name, c.address and c.address.line1, c.address and c.address.postcode) == home
               and c.id not in dup_ids]
    assert len({practice.truth.get(m.id) for m in members if m.id in practice.truth}) == len([m for m in members if m.id in practice.truth])


def test_identifiers_pass_their_checksums(practice) -> None:
    abns = [c.business_number for c in practice.local if c.business_number]
    tfns = [c.tax_number for c in practice.local if c.tax_number]
    assert abns and tfns
    assert all(abn_is_valid(a) for a in abns)
    assert all(tfn_is_valid(t) for t in tfns)
    nz = generate_practice(200, seed=3, country="NZ")
    irds = [c.tax_number for c in nz.local if c.tax_number]
    assert irds and all(ird_is_valid(i) for i in irds)


def test_checksum_helpers_reject_corrupted_numbers() -> None:
    import random

    rng = random.Random(0)
    abn = make_abn(rng, make_acn(rng))
    assert abn_is_valid(abn)
    assert not abn_is_valid(abn[:-1] + str((int(abn[-1]) + 1) % 10))
    assert not tfn_is_valid("123456789")


def test_relationships_and_groups_point_at_remote_clients(practice) -> None:
    remote_ids = {c.id for c in practice.remote}
    assert practice.remote_relationships and practice.remote_groups
    for r in practice.remote_relationships:
        assert r.client_id in remote_ids and r.related_client_id in remote_ids and r.client_id != r.related_client_id
    types = {r.type for r in practice.remote_relationships}
    assert {"director", "trustee", "beneficiary"} <= types
    assert all(set(g.member_ids) <= remote_ids for g in practice.remote_groups)
    in_groups = Counter(m for g in practice.remote_groups for m in g.member_ids)
    assert max(in_groups.values()) >= 2  # some clients are in several groups


def test_contacts_link_to_clients_and_some_remote_contacts_are_shared(practice) -> None:
    local_ids, remote_ids = {c.id for c in practice.local}, {c.id for c in practice.remote}
    assert all(set(c.client_ids) <= local_ids and len(c.client_ids) == 1 for c in practice.local_contacts)
    assert all(set(c.client_ids) <= remote_ids for c in practice.remote_contacts)
    assert any(len(c.client_ids) > 1 for c in practice.remote_contacts)


def test_csv_files_follow_the_canonical_schemas(practice, tmp_path) -> None:
    clients = practice.write_local_csv(tmp_path / "clients.csv")
    contacts = practice.write_local_contacts_csv(tmp_path / "contacts.csv")
    with clients.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CLIENT_CSV_COLUMNS
    assert len(rows) == len(practice.local)
    first = practice.local[0]
    assert rows[0]["id"] == first.id and rows[0]["kind"] == first.kind.value and rows[0]["name"] == first.name
    with contacts.open(newline="") as fh:
        contact_rows = list(csv.DictReader(fh))
    assert tuple(contact_rows[0]) == CONTACT_CSV_COLUMNS and len(contact_rows) == len(practice.local_contacts)
    assert {r["is_primary"] for r in contact_rows} == {"true", "false"}
