"""A running run keeps its record's `progress` current through every phase, for the console's runs page
(issue 18: "progress while running"), throttled so a large practice does not write the run row per client.
On SQLite and PostgreSQL, against the XPM simulator over real sockets."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from simulators.xpm import XpmSimulator
from syncworker.config import Settings
from syncworker.http.app import create_app
from syncworker.http.console.frame import progress_line
from syncworker.sample import generate_practice
from syncworker.services.context import ServiceContext
from syncworker.services.link_run import PHASES, run_link_run
from syncworker.services.runs import RunRecorder
from syncworker.services.sync_run import run_sync
from syncworker.store.db import Database
from syncworker.store.models import JobRun
from tests.console.test_console_http import sign_in
from tests.http.test_app_inprocess import RecordingExecutor
from tests.simulated import clocked_context, connect_practice

TENANT = "Harbour Accounting"
TOKEN = "console-" + uuid.uuid4().hex


@dataclass
class Seen:
    """One progress write, as the store holds it right after, and the run's row on the console's runs page."""

    status: str
    progress: dict[str, Any]
    console_row: str


@dataclass
class Watch:
    """Every progress write of the runs in a test, read back from the store and the console as it happens."""

    db: Database
    console: TestClient
    seen: list[Seen] = field(default_factory=list)

    def after_write(self, run_id: int) -> None:
        with self.db.read() as s:
            run = s.get(JobRun, run_id)
            status, progress = run.status, dict(run.progress)
        page = self.console.get("/console/runs", params={"tenant": TENANT}).text
        row = page[page.index(f"#{run_id}<"):]
        self.seen.append(Seen(status, progress, row[:row.index("</tr>")]))

    def phases(self) -> list[str]:
        """The phases in the order the store showed them (each once, however often it was written)."""
        out: list[str] = []
        for s in self.seen:
            if not out or out[-1] != s.progress["phase"]:
                out.append(s.progress["phase"])
        return out


@pytest.fixture
def watched(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ServiceContext, Watch]]:
    practice = generate_practice(80, seed=11)
    with XpmSimulator(practice=practice, seed=11) as sim:
        ctx = clocked_context(db, sim, page_size=20)  # several pages: the pull reports page by page
        connect_practice(ctx, sim, TENANT, practice, tmp_path, contacts=True)
        app = create_app(ServiceContext(db, Settings(database_url=db.url, operator_token=TOKEN)), RecordingExecutor())
        with TestClient(app, base_url="http://testserver", follow_redirects=False) as console:
            assert sign_in(console, token=TOKEN) == "/console/runs"
            watch = Watch(db, console)
            write = RunRecorder.progress

            def progress(self: RunRecorder, run_id: int, **state: Any) -> None:
                write(self, run_id, **state)
                watch.after_write(run_id)

            monkeypatch.setattr(RunRecorder, "progress", progress)
            yield ctx, watch


def _assert_console_showed_each(watch: Watch) -> None:
    for s in watch.seen:
        assert s.status == "running", s
        assert f'<small class="live">{progress_line(s.progress, "running")}</small>' in s.console_row, s


def test_a_link_run_reports_each_phase_in_order_to_the_record_the_console_reads(
        watched: tuple[ServiceContext, Watch]) -> None:
    ctx, watch = watched
    report = run_link_run(ctx, TENANT, "xpm")
    assert report.status == "succeeded", report.message
    assert report.counts["pages"] >= 4 and report.counts["linked_new"] > 0 and report.counts["to_review"] > 0
    assert watch.phases() == list(PHASES)  # XPM has relationships: every phase, in order
    _assert_console_showed_each(watch)
    by_phase = {s.progress["phase"]: s.progress for s in watch.seen}  # each phase's last write
    local = report.counts["local_clients"]
    assert watch.seen[0].progress["pages"] == 1 and watch.seen[0].progress["records"] == 20
    assert by_phase["match"] == by_phase["match"] | {"done": local, "total": local}
    decided = report.counts["linked_new"] + report.counts["to_review"] + report.counts["merge_required"]
    assert by_phase["write"]["done"] == by_phase["write"]["total"] >= decided
    assert "done" not in by_phase["broken links"]  # a first run has no links to check: no numbers shown

    # The second run has links: its "broken links" phase counts through them.
    watch.seen.clear()
    again = run_link_run(ctx, TENANT, "xpm")
    assert again.status == "succeeded" and watch.phases() == list(PHASES)
    broken = [s.progress for s in watch.seen if s.progress["phase"] == "broken links"]
    assert broken[-1]["done"] == broken[-1]["total"] == again.counts["links_kept"] > 0
    _assert_console_showed_each(watch)


def test_a_sync_reports_its_pull_then_its_merge_then_relationships(watched: tuple[ServiceContext, Watch]) -> None:
    ctx, watch = watched
    assert run_link_run(ctx, TENANT, "xpm").counts["linked_new"] > 0
    watch.seen.clear()
    report = run_sync(ctx, TENANT, "xpm")
    assert report.status == "succeeded", report.message
    assert watch.phases() == ["pull", "merge", "relationships"]
    merged = [s.progress for s in watch.seen if s.progress["phase"] == "merge"]
    assert merged[0]["done"] == 0 and merged[-1]["done"] == merged[-1]["total"] > 0
    _assert_console_showed_each(watch)


def test_steps_within_a_phase_are_throttled_and_a_new_phase_is_written_at_once(db: Database) -> None:
    now = [0.0]
    runs = RunRecorder(db, clock=lambda: now[0])
    run_id = runs.start("link_run", tenant_id=None)
    updates: list[str] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if re.match(r"\s*UPDATE job_runs SET progress", statement, re.IGNORECASE):
            updates.append(statement)

    def stored() -> dict[str, Any]:
        with db.read() as s:
            return {k: v for k, v in s.get(JobRun, run_id).progress.items() if k not in ("host", "pid")}

    try:
        # 15,000 clients, one step each, all within one second: the row is written twice, not 15,000 times.
        written = sum(runs.step(run_id, "write", done, 15_000) for done in range(15_001))
        assert written == len(updates) == 2
        assert stored() == {"phase": "write", "done": 15_000, "total": 15_000}

        assert runs.step(run_id, "relationships") and stored() == {"phase": "relationships"}  # new phase: at once
        assert not runs.step(run_id, "relationships")  # nothing new: not written
        assert runs.step(run_id, "pull", pages=1, records=100)
        assert not runs.step(run_id, "pull", pages=2, records=200)  # within the second: dropped
        assert stored() == {"phase": "pull", "pages": 1, "records": 100}
        now[0] += 1.0
        assert runs.step(run_id, "pull", pages=3, records=300)  # a second later: written
        assert stored() == {"phase": "pull", "pages": 3, "records": 300}
        assert runs.step(run_id, "write", 0, 0) and stored() == {"phase": "write"}  # nothing to count: no numbers
        assert len(updates) == 6
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
