"""How fast each console page answers at a practice's scale: 15,000 clients (plus links, suggestions and
conflicts) on a file SQLite database, each page fetched in process through the real app, median of 5.
Target: every page under 300 ms. A reference in the same run (one plain `SELECT count(*)` of the clients
table plus a Jinja render of an empty page) gives the time as a ratio, since these machines are noisy.

    .venv/bin/python -m benchmarks.console_pages [--clients 15000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from syncworker.config import Settings
from syncworker.http.app import create_app
from syncworker.services.context import ServiceContext
from syncworker.store.db import Database
from syncworker.store.models import Client, Link, SyncConflict
from tests.console import seed

TOKEN = "bench-console-token"


class NoJobs:
    def submit(self, request: object) -> int:
        raise RuntimeError("the benchmark starts no job")

    def shutdown(self, wait: bool = True) -> None:
        pass


def build(db: Database, n: int) -> str:
    p = seed.practice(db, "Big Practice")
    seed.many_clients(db, p.tenant_id, n)
    with db.session() as s:
        ids = list(s.scalars(select(Client.id).where(Client.tenant_id == p.tenant_id, Client.external_id.like("B%"))))
        s.execute(insert(Link), [{"tenant_id": p.tenant_id, "system": "xpm", "client_id": cid, "remote_id": f"r{i}",
                                  "status": "linked" if i % 10 else "suggested", "method": "auto", "score": 0.9,
                                  "reasons": ["name=0.95"]} for i, cid in enumerate(ids)])
        links = list(s.scalars(select(Link.id).where(Link.tenant_id == p.tenant_id, Link.status == "linked").limit(3000)))
        s.execute(insert(SyncConflict), [{"tenant_id": p.tenant_id, "link_id": lid, "field": "email", "status": "open",
                                          "local_value": '"a@x.example"', "remote_value": '"b@x.example"'}
                                         for lid in links])
    return p.tenant


def timed(client: TestClient, path: str, params: dict[str, str], runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = client.get(path, params=params)
        samples.append(time.perf_counter() - started)
        assert answer.status_code == 200, (path, answer.status_code)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=15_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        db.upgrade()
        tenant = build(db, args.clients)
        app = create_app(ServiceContext(db, Settings(database_url=db.url, operator_token=TOKEN)), NoJobs())
        with TestClient(app, follow_redirects=False) as client:
            form = client.get("/console").text
            csrf = form.split('name="csrf" value="')[1].split('"')[0]
            client.post("/console/signin", data={"csrf": csrf, "operator": "Bench", "token": TOKEN})
            started = time.perf_counter()
            for _ in range(5):
                with db.session() as s:
                    s.scalar(select(func.count()).select_from(Client))
                client.get("/console", follow_redirects=False)
            reference = (time.perf_counter() - started) / 5 * 1000
            pages = [("/console/runs", {}), ("/console/reviews", {"tenant": tenant}),
                     ("/console/duplicates", {"tenant": tenant}), ("/console/conflicts", {"tenant": tenant}),
                     ("/console/clients", {"tenant": tenant}), ("/console/clients", {"tenant": tenant, "q": "07"}),
                     ("/console/clients", {"tenant": tenant, "page": "400"}),
                     ("/console/clients/B00042", {"tenant": tenant})]
            print(f"{args.clients:,} clients on SQLite; reference (count + tiny page) {reference:.1f} ms")
            print("| page | median ms | x reference | under 300 ms |\n|---|---|---|---|")
            for path, params in pages:
                ms = timed(client, path, params)
                label = path + ("?" + "&".join(f"{k}={v}" for k, v in params.items() if k != "tenant") if
                                set(params) - {"tenant"} else "")
                print(f"| {label} | {ms:.0f} | {ms / reference:.1f} | {'yes' if ms < 300 else 'NO'} |")
        db.dispose()


if __name__ == "__main__":
    main()
