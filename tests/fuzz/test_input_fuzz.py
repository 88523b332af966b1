"""hypothesis at the edges that take files and payloads: the importer (CSV and JSON files of any shape, on
SQLite and PostgreSQL) and the Xero webhook's payload parser. Every input ends in a report or a clear
refusal; never a traceback, never a run left `running`, never a value quoted back.
SYNCWORKER_FUZZ_EXAMPLES sets the webhook examples (default 40), SYNCWORKER_FUZZ_IMPORT_EXAMPLES the import files
per database (default 200: 400 in the suite); `benchmarks/import_fuzz.py` imports 2,500 and counts the tracebacks."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from syncworker.domain.profile import CLIENT_CSV_COLUMNS
from syncworker.http import xero_events
from syncworker.services.files import FileUnreadable
from syncworker.services.importer import ImportRejected, import_clients
from syncworker.services.tenants import add_tenant
from syncworker.store.db import Database
from syncworker.store.models import JobRun

EXAMPLES = int(os.environ.get("SYNCWORKER_FUZZ_EXAMPLES", "40"))
IMPORT_EXAMPLES = int(os.environ.get("SYNCWORKER_FUZZ_IMPORT_EXAMPLES", "200"))
TRACEBACK = "traceback: "
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))
SECRET = "Zqx-secret-tax-7"  # a value that must never come back in a message

hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x9f), max_size=20),
    st.sampled_from(["\x00", "a\x00b", "=cmd|' /C calc'!A0", "9" * 400, "x" * 201, "1980-02-30", "0001-01-01",
                     "9999-12-31", "-1", "1e309", "NaN", "\ufeff", "\u202e", SECRET]),
)
json_value = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), hostile_text),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
                          max_leaves=8)


QUOTED_ON_PURPOSE = ("id", "kind", "is_primary")  # the importer names what to fix: the row's id, a bad code


def _no_secret_id(r: dict[str, object]) -> dict[str, object]:
    """Columns quoted back on purpose (`QUOTED_ON_PURPOSE`) never carry the secret: it stands for client
    data, so it goes in any other column."""
    for column in QUOTED_ON_PURPOSE:
        if column in r:
            r[column] = json.loads(json.dumps(r[column]).replace(SECRET, "a-code"))
    return r


row = st.dictionaries(st.sampled_from(CLIENT_CSV_COLUMNS + ("surprise",)), st.one_of(hostile_text, json_value),
                      max_size=8).map(_no_secret_id)


def csv_file(rows: list[dict[str, object]]) -> bytes:
    cols = sorted({k for r in rows for k in r} | {"id", "kind", "name"})
    lines = [",".join(cols)] + [",".join(json.dumps(str(r.get(c, "")))[1:-1].replace(",", ";") for c in cols)
                                for r in rows]
    return "\n".join(lines).encode("utf-8", "surrogatepass")


files = st.one_of(
    st.lists(row, max_size=5).map(lambda rows: ("json", json.dumps(rows).encode())),
    st.lists(row, max_size=5).map(lambda rows: ("csv", csv_file(rows))),
    st.binary(max_size=300).map(lambda b: ("csv", b)),
    st.integers(1, 5000).map(lambda n: ("json", b"[" * n + b"]" * n)),
)


def import_once(db: Database, tenant: str, tmp_path: Path, file: tuple[str, bytes]) -> str:
    """Import one file; its outcome: imported, ImportRejected, FileUnreadable, or TRACEBACK + the exception
    (anything else, a run left `running`, or the secret value quoted back)."""
    suffix, content = file
    path = tmp_path / f"in-{uuid.uuid4().hex[:8]}.{suffix}"
    path.write_bytes(content)
    try:
        import_clients(db, tenant, path, skip_invalid=bool(len(content) % 2))
        outcome = "imported"
    except (ImportRejected, FileUnreadable) as exc:
        outcome = type(exc).__name__ if SECRET not in str(exc) else f"{TRACEBACK}secret quoted"
    except Exception as exc:  # noqa: BLE001 - what the campaign counts
        return f"{TRACEBACK}{type(exc).__name__}"
    finally:
        path.unlink(missing_ok=True)
    with db.read() as s:
        last = s.scalars(select(JobRun).order_by(JobRun.id.desc()).limit(1)).first()
    if last is not None and last.status == "running":
        return f"{TRACEBACK}run left running"
    if last is not None and SECRET in (last.message or ""):
        return f"{TRACEBACK}secret stored in the message"
    quoted = sorted({str(r).split(":")[0] for e in last.errors or [] for r in e.get("reasons", [e])
                     if SECRET in json.dumps(r)}) if last is not None else []
    if quoted:
        return f"{TRACEBACK}secret stored in the errors ({', '.join(quoted)[:80]})"
    return outcome


def import_campaign(db: Database, tmp_path: Path, *, examples: int) -> Counter[str]:
    """`examples` hypothesis-drawn files imported into a fresh tenant; every outcome counted (a traceback
    does not stop the campaign)."""
    tenant = f"Fuzz {uuid.uuid4().hex[:6]}"
    add_tenant(db, tenant)
    outcomes: Counter[str] = Counter()

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(files)
    def one(file: tuple[str, bytes]) -> None:
        outcomes[import_once(db, tenant, tmp_path, file)] += 1

    one()
    return outcomes


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_any_import_file_ends_in_a_report_or_a_clear_refusal(db: Database, tmp_path: Path) -> None:
    """200 files per database in the suite (`benchmarks/import_fuzz.py` runs 2,500 and counts)."""
    outcomes = import_campaign(db, tmp_path, examples=IMPORT_EXAMPLES)
    print("\nimport fuzz outcomes:", dict(outcomes))
    assert sum(outcomes.values()) >= IMPORT_EXAMPLES * 0.9  # hypothesis may draw a few less, never none
    assert not [o for o in outcomes if o.startswith(TRACEBACK)], outcomes


@FUZZ
@given(st.one_of(
    st.binary(max_size=200),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.lists(st.dictionaries(st.sampled_from(["tenantId", "eventCategory", "eventType", "resourceId",
                                              "eventDateUtc", "resourceUrl"]), hostile_text | json_value),
             max_size=3).map(lambda evs: json.dumps({"events": evs}).encode()),
    st.integers(1, 5000).map(lambda n: b'{"events": ' + b"[" * n + b"]" * n + b"}"),
))
def test_any_webhook_payload_parses_or_is_malformed(body: bytes) -> None:
    try:
        events = xero_events.parse(body)
    except xero_events.MalformedPayload as exc:
        assert SECRET not in str(exc)
        return
    for e in events:  # what is stored fits its columns and carries no control characters
        assert len(e.resource_id) <= 100 and len(e.tenant_id) <= 100
        assert all(ord(ch) >= 32 for ch in e.resource_id + e.tenant_id + e.category + e.event_type)
        assert 2000 <= e.event_date.year <= 2200
