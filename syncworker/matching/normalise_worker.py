"""The second process of `tables`: normalises the columns it reads from stdin and writes them to stdout.

Run as `python -m syncworker.matching.normalise_worker`; both ends are pickles exchanged with the
parent process only, never with anything outside it.
"""

from __future__ import annotations

import pickle
import sys

from .features import Vocab, normalise


def main() -> None:
    raw, region = pickle.load(sys.stdin.buffer)
    raw.consume = True  # this copy serves nothing else: free each column once normalised
    columns = normalise(raw, Vocab(keep_memos=False), region)  # only for memos: the parent codes the columns
    pickle.dump(columns, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
