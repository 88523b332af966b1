"""The same data gives the same blocking codes, hence the same candidate pairs and decisions, in any
process: nothing in matching may depend on Python's per-process string hash salt (PYTHONHASHSEED)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

SCRIPT = """
import json
from syncworker.matching.keycodes import KeyVocab
print(json.dumps(KeyVocab.factor(["smith", "#12 ba", "~S530", "2000", ""]).tolist()))
"""
SALTED = """print(hash("smith"))"""  # what the check must catch: an answer that depends on the salt

# The children take under a second on a quiet machine and a few seconds at a load of 11 on 2 cores, but one
# took over 60 s once under a loaded full suite (importing NumPy from a cold disk). The deadline is for a
# hang only, so it is generous, and below pytest's own 300 s so that the failure says what the children did.
DEADLINE_S = 240


def _outputs(script: str, seeds: tuple[str, ...]) -> list[str]:
    """What `script` prints in one fresh interpreter per hash seed, the interpreters run side by side (one
    wait, not one per seed)."""
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONHASHSEED": seed}) for seed in seeds]
    deadline = time.monotonic() + DEADLINE_S  # one for all of them
    try:
        results = [proc.communicate(timeout=max(0.0, deadline - time.monotonic())) for proc in procs]
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        raise AssertionError(f"no answer within {DEADLINE_S} s; load average {os.getloadavg()}") from None
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    return [out for out, _err in results]


def test_blocking_codes_do_not_depend_on_the_process_hash_seed() -> None:
    first, second = (json.loads(out) for out in _outputs(SCRIPT, ("1", "2")))
    assert first == second
    assert first[-1] == -1 and len(set(first[:-1])) == 4  # empty keys never block; distinct keys, distinct codes


def test_the_check_tells_an_answer_that_depends_on_the_seed() -> None:
    first, second = _outputs(SALTED, ("1", "2"))
    assert first != second
