"""The order in which `scripts/test` hands test files to its pytest-xdist workers (`--dist loadfile`).

xdist starts the files with the most tests first. Some of the longest files have one to three tests (a soak, a
browser session, 500 clients' syncs), so they came last, and one worker ran them alone at the end while the
other had nothing left to do: on 2 cores that tail was a large part of the run's wall time. The files below
go first, longest first; the rest follow in xdist's own order. A name missing here costs only time, and
tests/test_scheduling.py fails when one of them no longer names a test file.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest

# The files with the largest sums of test times in a full run (per-file sums of a loaded 2-core run, 16:20 UTC
# 2026-12-07), longest first: all the long ones with few tests, and the few long ones with many.
LONG_FILES_FIRST = (
    "tests/e2e/test_link_run_e2e.py",
    "tests/adapters/aps/test_aps_queries.py",
    "tests/fuzz/test_api_fuzz.py",
    "tests/portal/test_portal_lockout_http.py",
    "tests/portal/test_portal_lockout.py",
    "tests/e2e/test_sync_e2e.py",
    "tests/adapters/aps/test_aps_flow.py",
    "tests/reliability/test_graceful_stop.py",
    "tests/services/test_run_progress.py",
    "tests/portal/test_portal_http.py",
    "tests/jobs/test_run_cmds.py",
    "tests/fuzz/test_input_fuzz.py",
    "tests/sync/test_pull_and_webhooks.py",
    "tests/http/test_link_run_over_http.py",
    "tests/connections/test_relationship_reading.py",
    "tests/reliability/test_soak_scaleout.py",
    "tests/console/test_console_browser.py",
    "tests/reliability/test_soak.py",
    "tests/connections/test_link_run_then_relationships.py",
    "tests/cli/test_demo.py",
    "tests/cli/test_installed_wheel.py",
)


def start_order(files: list[str]) -> list[str]:
    """`files` (in xdist's order) with those in LONG_FILES_FIRST first, in that order; the others keep theirs."""
    rank = {name: i for i, name in enumerate(LONG_FILES_FIRST)}
    return sorted(files, key=lambda name: rank.get(name, len(rank)))  # stable


def make_scheduler(config: pytest.Config, log: Any) -> Any:  # noqa: ANN401 - xdist's types
    """A loadfile scheduler that hands out the files in `start_order`; None (xdist's own) for other modes."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    # `_assign_work_unit` and `workqueue` are xdist's own (3.5 to 3.8): a release without them gets its own
    # scheduler, in its own order, rather than a run that fails at the first file it hands out.
    if not callable(getattr(LoadFileScheduling, "_assign_work_unit", None)):
        return None

    class LongFilesFirst(LoadFileScheduling):
        ordered = False

        def _assign_work_unit(self, node: Any) -> None:  # noqa: ANN401
            # Reorder the queue of files, never the collection: the workers run tests by their index in it.
            if not self.ordered:
                self.ordered = True
                queue = getattr(self, "workqueue", None)
                if isinstance(queue, OrderedDict):
                    self.workqueue = OrderedDict((name, queue[name]) for name in start_order(list(queue)))
            super()._assign_work_unit(node)

    return LongFilesFirst(config, log)
