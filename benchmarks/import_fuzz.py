"""hypothesis on the importer: 2,500 fuzzed import files (CSV and JSON of any shape, hostile values, raw bytes,
deep nesting) into SQLite and/or PostgreSQL, every outcome counted. Issue #19's bar: 0 tracebacks (anything
but a report or a clear refusal, a run left `running`, or a value quoted back).

    .venv/bin/python benchmarks/import_fuzz.py                                   # SQLite, 2,500 files
    .venv/bin/python benchmarks/import_fuzz.py --database postgresql://127.0.0.1:5432/test --files 2500

The suite runs the same campaign with 200 files per database (tests/fuzz/test_input_fuzz.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from syncworker.store.db import Database  # noqa: E402
from tests.fuzz.test_input_fuzz import TRACEBACK, import_campaign  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2500)
    parser.add_argument("--database", default=None, help="a PostgreSQL URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.database:
            schema = f"import_fuzz_{uuid.uuid4().hex[:8]}"
            with Database(args.database).engine.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            db = Database(args.database, schema=schema)
        else:
            db = Database(f"sqlite:///{tmp}/fuzz.db")
        db.upgrade()
        started = time.monotonic()
        try:
            outcomes = import_campaign(db, Path(tmp), examples=args.files)
        finally:
            if args.database:
                with db.engine.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{db.schema}" CASCADE')
            db.dispose()
    tracebacks = {k: v for k, v in outcomes.items() if k.startswith(TRACEBACK)}
    print(f"{db.dialect}: {sum(outcomes.values())} files in {time.monotonic() - started:.0f} s; "
          f"tracebacks {sum(tracebacks.values())}")
    for outcome, n in outcomes.most_common():
        print(f"  {n:6d}  {outcome}")
    return 1 if tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
