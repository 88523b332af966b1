"""Full load of a generated XPM practice through XpmClient, over real sockets against the simulator with
Xero's real limits (5 concurrent, 60/minute, 5,000/day). Prints calls made against pages needed, wall time
and 429s, for a clean run and for a run with one of each transient fault injected (one per page request,
after the first page; a slow response outlasts the 1 s read timeout).

    .venv/bin/python benchmarks/xpm_full_load.py [--clients 5000] [--seed 1] [--page-size 500]

`--page-size 50` (XPM's default) shows why 500 matters: 10x the calls, and past 60 calls the limiter has to
wait for the minute window. Waits there are taken on the simulator's clock (time travel) so the run stays
short; "simulated time" reports how long it would take for real.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.base import TokenSet  # noqa: E402
from adapters.ratelimit import Limits, RateLimiter  # noqa: E402
from adapters.xero_identity.memory_store import InMemoryTokenStore  # noqa: E402
from adapters.xero_identity.tokens import TokenManager  # noqa: E402
from adapters.xpm.client import XpmClient  # noqa: E402
from simulators.xpm import XpmSimulator  # noqa: E402

FAULTS = ("500", "reset", "malformed_xml", "minute_429", "slow")


def run(sim: XpmSimulator, page_size: int, *, faults: bool, time_travel: bool) -> dict[str, object]:
    sim.stats.reset()
    sim.limiter.reset()
    store = InMemoryTokenStore(TokenSet(access_token=None, refresh_token=sim.issue_refresh_token(), expires_at=None,
                                        remote_tenant_id=sim.xero_tenant_id))
    sleep = sim.clock.advance if time_travel else time.sleep
    tokens = TokenManager(store, client_id=sim.client_id, client_secret=sim.client_secret,
                          identity_url=sim.identity_url, clock=sim.clock.now, sleep=sleep)
    limiter = RateLimiter(Limits(), clock=sim.clock.elapsed, now=sim.clock.now, sleep=sleep)
    client = XpmClient(tokens, base_url=sim.base_url, limiter=limiter, page_size=page_size, timeout=1.0,
                       sleep=sleep, clock=sim.clock.now)
    pending = list(FAULTS) if faults else []
    active = len(sim.store.active_clients())
    seen: set[str] = set()
    sim_start, wall_start = sim.clock.elapsed(), time.perf_counter()
    for page in client.iter_client_pages():
        seen.update(c.id for c in page.items)
        if pending:  # one fault on each of the next pages' requests
            kind = pending.pop(0)
            sim.faults.inject(kind, times=1, delay=2.0 if kind == "slow" else None)
    wall = time.perf_counter() - wall_start
    stats = client.call_stats()
    return {
        "page size": page_size,
        "faults injected": ", ".join(FAULTS) if faults else "none",
        "active clients": active,
        "clients loaded": len(seen),
        "pages needed": math.ceil(active / page_size),
        "calls made (adapter)": stats.get("calls", 0),
        "calls seen (simulator)": sim.stats.total_calls,
        "retries": stats.get("retries", 0),
        "429s seen": sim.stats.total_429,
        "peak concurrency": sim.stats.peak_concurrency,
        "token refreshes": tokens.refreshes,
        "wall time (s)": round(wall, 2),
        "simulated time (s)": round(sim.clock.elapsed() - sim_start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args()
    with XpmSimulator(clients=args.clients, seed=args.seed, port=0) as sim:
        time_travel = args.page_size < 500
        results = [run(sim, args.page_size, faults=False, time_travel=time_travel),
                   run(sim, args.page_size, faults=True, time_travel=time_travel)]
    width = max(len(k) for k in results[0])
    print(f"XPM full load, {args.clients} generated clients (seed {args.seed}), limits 5 concurrent / 60 per minute / "
          "5,000 per day")
    for key in results[0]:
        print(f"  {key:<{width}}  " + "  |  ".join(str(r[key]) for r in results))
    active = results[0]["active clients"]
    print(f"  for comparison: paged-list + get/{{uuid}} per client would be {results[0]['pages needed']} + {active} calls "
          f"(~{math.ceil((int(results[0]['pages needed']) + int(active)) / 60)} minutes at 60/min, "
          "most of the 5,000/day budget)")


if __name__ == "__main__":
    main()
