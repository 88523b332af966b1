"""The second process of `tables`: normalises the columns it reads from stdin, and makes their keys.

It writes the columns and their own blocking keys (blocking.own_keys) to stdout.

Run as `python -m syncworker.matching.normalise_worker`; both ends are pickles exchanged with the
parent process only, never with anything outside it. Given a path instead of columns, it reads that
file (csvio.read_file) and sends the file's ReadReport back with the columns.
"""

from __future__ import annotations

import gc
import pickle
import sys
from pathlib import Path

from .blocking import own_keys_of
from .csvio import read_file
from .features import Vocab, normalise


def main() -> None:
    gc.disable()  # millions of strings, none in a cycle; the process ends when done
    source, region = pickle.load(sys.stdin.buffer)
    report = None
    if isinstance(source, Path):  # a file to read first (a file it cannot read: the parent says why)
        source, report = read_file(source)
    source.consume = True  # this copy serves nothing else: free each column once normalised
    columns = normalise(source, Vocab(keep_memos=False), region)  # only for memos: the parent codes the columns
    answer = (columns, own_keys_of(columns))
    pickle.dump(answer if report is None else (*answer, report), sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
