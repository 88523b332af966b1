"""How fast each console page answers at a practice's scale: 15,000 clients on a file SQLite database, with
what a practice that size accumulates: a link to XPM for each (one in ten still a suggestion, held back by a
competing record), 15,000 XPM records in the records cache, 3,000 open conflicts, 500 duplicate clusters and
2,000 finished runs with a link run's counts and API usage. Each page is fetched in process through the real
app, median of 5.
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
from syncworker.domain.profile import ClientKind, ClientProfile
from syncworker.domain.serialize import content_hash, profile_to_dict
from syncworker.http.app import create_app
from syncworker.services.context import ServiceContext
from syncworker.store.db import Database
from syncworker.store.models import (
    Client,
    DuplicateCluster,
    DuplicateMember,
    JobRun,
    Link,
    RemoteRecord,
    SyncConflict,
)
from tests.console import seed

TOKEN = "bench-console-token"


class NoJobs:
    def submit(self, request: object) -> int:
        raise RuntimeError("the benchmark starts no job")

    def shutdown(self, wait: bool = True) -> None:
        pass


RUN_COUNTS = {"pages": 150, "remote_new": 0, "remote_changed": 40, "remote_unchanged": 14960, "local_clients": 15000,
              "linked_new": 12, "to_review": 3, "broken": 0, "unmatched_local": 30, "api_calls": 152, "api_retries": 1,
              "api_rate_limited_minute": 0, "api_rate_limited_day": 0, "api_day_remaining": 4200}


def build(db: Database, n: int) -> str:
    p = seed.practice(db, "Big Practice")
    seed.many_clients(db, p.tenant_id, n)
    with db.session() as s:
        ids = list(s.scalars(select(Client.id).where(Client.tenant_id == p.tenant_id, Client.external_id.like("B%"))))
        s.execute(insert(Link), [{"tenant_id": p.tenant_id, "system": "xpm", "client_id": cid, "remote_id": f"r{i}",
                                  "status": "linked" if i % 10 else "suggested", "method": "auto", "score": 0.9,
                                  "reasons": ["name=0.95"] + ([] if i % 10 else [
                                      f"held_back_by=competing:r{i + 1} (score 0.880, 2.0 of 6 bits ahead)"])}
                                 for i, cid in enumerate(ids)])
        records = []
        for i in range(n):
            payload = profile_to_dict(ClientProfile(id=f"r{i}", kind=ClientKind.COMPANY, name=f"Bulk Client {i:05d}",
                                                    email=f"c{i}@bulk.example"))
            records.append({"tenant_id": p.tenant_id, "system": "xpm", "record_type": "client", "remote_id": f"r{i}",
                            "payload": payload, "payload_hash": content_hash(payload)})
        s.execute(insert(RemoteRecord), records)
        links = list(s.scalars(select(Link.id).where(Link.tenant_id == p.tenant_id, Link.status == "linked").limit(3000)))
        s.execute(insert(SyncConflict), [{"tenant_id": p.tenant_id, "link_id": lid, "field": "email", "status": "open",
                                          "local_value": '"a@x.example"', "remote_value": '"b@x.example"'}
                                         for lid in links])
        for k in range(500):  # pairs of clients that look alike
            a, b = ids[2 * k], ids[2 * k + 1]
            cluster = DuplicateCluster(tenant_id=p.tenant_id, scope="local", fingerprint=f"bench-{k}", score=0.9,
                                       record_type="organisation", reasons=["name=0.93"])
            cluster.members += [DuplicateMember(member_ref=f"client:{a}", client_id=a),
                                DuplicateMember(member_ref=f"client:{b}", client_id=b)]
            s.add(cluster)
        s.execute(insert(JobRun), [{"tenant_id": p.tenant_id, "kind": "link_run" if i % 2 else "sync", "system": "xpm",
                                    "trigger": "schedule", "status": "succeeded", "counts": RUN_COUNTS,
                                    "errors": [], "progress": {}, "params": {}} for i in range(2000)])
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
                     ("/console/clients/B00042", {"tenant": tenant}),
                     ("/console/reviews", {"tenant": tenant, "q": "Client 001"}),
                     ("/console/duplicates", {"tenant": tenant, "q": "Client 0004"}),
                     ("/console/conflicts", {"tenant": tenant, "q": "Client 002"}),
                     ("/console/runs/1000", {}), ("/console/runs", {"page": "60"}),
                     ("/console/search", {"tenant": tenant, "local_id": "B00042", "system": "xpm",
                                          "q": "Client 0004"})]
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
