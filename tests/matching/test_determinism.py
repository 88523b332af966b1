"""The same data gives the same blocking codes, hence the same candidate pairs and decisions, in any
process: nothing in matching may depend on Python's per-process string hash salt (PYTHONHASHSEED)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import json
from syncworker.matching.keycodes import KeyVocab
print(json.dumps(KeyVocab.factor(["smith", "#12 ba", "~S530", "2000", ""]).tolist()))
"""


def _codes(seed: str) -> list[int]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60,
                          check=True)
    return json.loads(proc.stdout)


def test_blocking_codes_do_not_depend_on_the_process_hash_seed() -> None:
    first, second = _codes("1"), _codes("2")
    assert first == second
    assert first[-1] == -1 and len(set(first[:-1])) == 4  # empty keys never block; distinct keys, distinct codes
