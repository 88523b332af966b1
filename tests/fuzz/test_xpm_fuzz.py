"""The XPM adapter on hostile documents (`tests/fuzz/xpm_hostile.py`): real simulator answers, mutated, read
through the real client. Only the adapter's error types escape, and what it reads can be stored. Bounded:
SYNCWORKER_FUZZ_XPM_INPUTS inputs (default 300) or 2 seconds, whichever comes first, but at least 50 inputs."""

from __future__ import annotations

import os

import pytest

from adapters.errors import MalformedResponse
from adapters.xpm.client import XpmClient
from tests.fuzz import xpm_hostile as hostile

INPUTS = int(os.environ.get("SYNCWORKER_FUZZ_XPM_INPUTS", "300"))


@pytest.fixture(scope="module")
def seeds() -> tuple[list[hostile.Seed], dict[str, str]]:
    return hostile.simulator_seeds()


def test_hostile_xpm_documents_end_only_in_adapter_errors(seeds: tuple[list[hostile.Seed], dict[str, str]]) -> None:
    out = hostile.run(*seeds, inputs=INPUTS, seconds=2.0, at_least=min(INPUTS, 50))
    print(f"\nXPM fuzz: {out.inputs} inputs in {out.seconds:.1f} s, read {out.read}, "
          f"adapter errors {dict(out.adapter_errors)}")
    assert out.inputs >= min(INPUTS, 50)  # a fuzz that ran nothing checked nothing
    assert out.read and out.adapter_errors  # both outcomes were reached
    assert not out.escaped, out.escaped.most_common()


def _client_for(seeds: tuple[list[hostile.Seed], dict[str, str]], kind: str, body: bytes) -> XpmClient:
    plain = {s.path: s.body for s in seeds[0] if s.kind not in ("write", "error", "incremental")}
    path = next(s.path for s in seeds[0] if s.kind == kind)
    return hostile._client(plain | {path: body}, body)


@pytest.mark.parametrize("encoding", ["x-bogus", "rot13", "base64"])
def test_an_unknown_encoding_is_a_malformed_answer(seeds: tuple[list[hostile.Seed], dict[str, str]],
                                                   encoding: str) -> None:
    body = f'<?xml version="1.0" encoding="{encoding}"?><Response><Status>OK</Status></Response>'.encode()
    with pytest.raises(MalformedResponse):
        _client_for(seeds, "groups", body).list_groups(members=False)


def test_one_bad_record_in_a_listing_is_skipped_and_reported_not_a_failed_listing(
        seeds: tuple[list[hostile.Seed], dict[str, str]]) -> None:
    listing = next(s.body for s in seeds[0] if s.kind == "list")
    # First record: infinite shares and a NaN percentage (values dropped, the record stands); second record:
    # a malformed UUID (the record is unreadable: skipped and reported by position, the listing goes on).
    first, second = listing.find(b"<Client>"), listing.find(b"<Client>", listing.find(b"<Client>") + 1)
    uuid_at = listing.find(b"<UUID>", second) + len(b"<UUID>")
    bad = (listing[:uuid_at] + b"not-a-uuid" + listing[listing.find(b"</UUID>", uuid_at):])
    bad = bad.replace(b"<Client>", b"<Client><Relationships><Relationship><UUID>00000000-0000-4000-8000-0000000000aa"
                      b"</UUID><RelatedClientUUID>00000000-0000-4000-8000-0000000000bb</RelatedClientUUID>"
                      b"<NumberOfShares>inf</NumberOfShares><Percentage>nan</Percentage></Relationship>"
                      b"</Relationships>", 1)
    assert first < second
    pages = list(_client_for(seeds, "list", bad).iter_client_pages())
    read = [p for page in pages for p in page.items]
    skipped = [r for page in pages for r in page.skipped]
    assert len(read) == listing.count(b"<Client>") - 1
    assert skipped == [{"remote_id": None, "error": "<UUID> is not a UUID"}]
    shares = [r for r in read[0].extra["relationships"] if r["related_client_id"].endswith("bb")]
    assert shares and shares[0]["number_of_shares"] is None and shares[0]["percentage"] is None
