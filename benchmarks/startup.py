"""Start-up of `syncworker --help` beyond Python's own (issue #13: under 0.3 s), as wall time AND as CPU time
(user + system of the child process). Runs interleave, so both commands see the same load; on a loaded machine
the wall times mostly measure waiting for a core, the CPU times what the commands cost.

    python benchmarks/startup.py [PATH_TO_SYNCWORKER] [RUNS]     (default: the syncworker beside this Python, 10)
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def once(cmd: list[str]) -> tuple[float, float]:
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    syncworker = sys.argv[1] if len(sys.argv) > 1 else str(Path(sys.executable).with_name("syncworker"))
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    bare, helps = [], []
    for _ in range(runs):
        bare.append(once([sys.executable, "-c", "pass"]))
        helps.append(once([syncworker, "--help"]))
    print(f"{runs} runs each, interleaved; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| time | python -c pass (median) | syncworker --help (median) | beyond Python (median) | beyond (min) |")
    print("|---|---|---|---|---|")
    for label, i in (("wall", 0), ("CPU", 1)):
        b, h = [r[i] for r in bare], [r[i] for r in helps]
        print(f"| {label} | {statistics.median(b):.3f} s | {statistics.median(h):.3f} s | "
              f"{statistics.median(h) - statistics.median(b):.3f} s | {min(h) - min(b):.3f} s |")


if __name__ == "__main__":
    main()
