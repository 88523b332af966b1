"""The feature tables of a run, with one share of the normalising done in a second process.

Normalising is per-record Python, the largest part of a large run, and it would otherwise use one
core of a machine that has two or more. The second process gets plain columns (not profiles, which
cost more to pickle than to normalise), normalises them with memos of its own and sends back strings
and arrays; only this process codes them, with the run's one Vocab, so codes mean the same on both
sides.

The second process is a fresh interpreter running `normalise_worker`. Not a fork:
link runs execute in threaded workers, where a forked child can inherit a lock another thread held.
Not multiprocessing's spawn either: it re-imports the caller's main module, which runs a script that
calls the matcher without a `__main__` guard a second time. Whatever goes wrong over there, the
share is normalised here instead: the result is the same, only slower.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import IO

from syncworker.domain.profile import ClientProfile

from .config import MatchConfig
from .features import Normalised, RawColumns, Table, Vocab, assemble, normalise, raw_columns

log = logging.getLogger(__name__)


Records = Sequence[ClientProfile] | RawColumns  # profiles, or their columns as csvio.read_raw_columns reads them


def _raw(records: Records) -> RawColumns:
    return records if isinstance(records, RawColumns) else raw_columns(records)


def build_link_tables(local: Records, remote: Records, config: MatchConfig) -> tuple[Table, Table]:
    """Tables of both sides, coded by one Vocab; the remote side normalised in a second process when
    both lists reach `config.background_table_min`."""
    region = config.default_region
    raw_remote = _raw(remote)
    background = _Background(raw_remote, region) if _worth_it(min(len(local), len(remote)), config) else None
    # Memos are shared with the other side only when this process normalises it too.
    vocab = Vocab(keep_memos=background is None)
    left = assemble(normalise(_raw(local), vocab, region), vocab)
    right_columns = background.result(vocab) if background else normalise(raw_remote, vocab, region)
    return left, assemble(right_columns, vocab)


def build_dedupe_table(records: Records, config: MatchConfig) -> Table:
    """The table of one list; its second half normalised in a second process when each half reaches
    `config.background_table_min`."""
    vocab = Vocab()
    region = config.default_region
    raw = _raw(records)
    if not _worth_it(len(raw) // 2, config):
        return assemble(normalise(raw, vocab, region), vocab)
    first, second = raw.split()
    background = _Background(second, region)
    columns = normalise(first, Vocab(keep_memos=False), region)  # the first half shares no memo
    return assemble(Normalised.concat(columns, background.result(vocab)), vocab)


def _worth_it(records: int, config: MatchConfig) -> bool:
    # Spawning costs about 0.2 s of start-up: below a few thousand records that is more than it saves.
    return config.workers >= 2 and 0 < config.background_table_min <= records


class _Background:
    """normalise(raw) in a second Python process, started at once; `result` collects it.

    Input and output go through anonymous temporary files (unlinked from the start, so nothing is
    left on disk whatever happens), not pipes: a pipe moves 64 KiB at a time, and each step waits for
    the interpreter lock that this process's own normalising holds, which cost seconds at 100k records.
    """

    command = [sys.executable, "-m", "syncworker.matching.normalise_worker"]  # tests make it fail

    def __init__(self, raw: RawColumns, region: str) -> None:
        self._raw, self._region = raw, region
        self._proc: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        try:
            with tempfile.TemporaryFile() as given:
                pickle.dump((raw, region), given, protocol=pickle.HIGHEST_PROTOCOL)
                given.seek(0)
                self._output = tempfile.TemporaryFile()  # noqa: SIM115 - closed by result()
                env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # importable as here
                self._proc = subprocess.Popen(self.command, stdin=given, stdout=self._output,
                                              stderr=subprocess.DEVNULL, env=env)
        except OSError as exc:  # no interpreter to start, a process limit, no room for the file: work here
            self._failed(exc)

    def result(self, vocab: Vocab) -> Normalised:
        proc, self._proc = self._proc, None
        output, self._output = self._output, None
        try:
            if proc is not None and output is not None:
                if proc.wait() != 0:
                    raise ChildProcessError(f"exit status {proc.returncode}")
                output.seek(0)
                columns = pickle.load(output)
                if not isinstance(columns, Normalised):
                    raise TypeError(f"got {type(columns).__name__}")
                return columns
        except Exception as exc:  # any failure over there: do the share here
            self._failed(exc)
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            if output is not None:
                output.close()
        return normalise(self._raw, vocab, self._region)

    def _failed(self, exc: Exception) -> None:
        # The type and exit status only: a message raised over there could quote a client's details.
        detail = str(exc) if isinstance(exc, ChildProcessError) else type(exc).__name__
        log.warning("matching: normalising in a second process failed (%s); normalising here instead", detail)
