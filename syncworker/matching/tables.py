"""The feature tables of a run, with one share of the normalising done in a second process (for
`syncworker match` on large files, the reading of the remote file too: `read_link_sides`).

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from syncworker.domain.profile import ClientProfile

from .blocking import OwnKeys, concat_own_keys, keep_own_keys, make_own_keys, own_keys_of
from .compare import derive_columns
from .config import MatchConfig
from .csvio import ReadReport, paused_gc
from .features import Normalised, RawColumns, Table, Vocab, assemble, normalise, raw_columns

log = logging.getLogger(__name__)


class Prepared:
    """One side of a link, read, normalised and coded already (see `read_link_sides`): its table, and
    the run's Vocab that coded it and codes the other side. Used once: the run takes its table."""

    def __init__(self, table: Table, vocab: Vocab, region: str) -> None:
        self._table: Table | None = table
        self.vocab = vocab
        self.region = region
        self._count = len(table)

    def __len__(self) -> int:
        return self._count

    def take(self, region: str) -> Table:
        if self.region != region:
            raise ValueError(f"records normalised for region {self.region!r}, matched for {region!r}")
        table, self._table = self._table, None
        if table is None:
            raise RuntimeError("prepared records serve one run")
        return table


# Profiles, their columns as csvio.read_raw_columns reads them, or (link runs) a side already normalised.
Records = Sequence[ClientProfile] | RawColumns | Prepared


def _raw(records: Records) -> RawColumns:
    return records if isinstance(records, RawColumns) else raw_columns(records)  # type: ignore[arg-type]


def _table(records: Records | RawColumns, vocab: Vocab, region: str) -> Table:
    return assemble(normalise(_raw(records), vocab, region), vocab)


def build_link_tables(local: Records, remote: Records, config: MatchConfig) -> tuple[Table, Table]:
    """Tables of both sides, coded by one Vocab; the remote side normalised (and its own blocking
    keys made) in a second process when both lists reach `config.background_table_min` (unless it
    comes normalised already). A local side `read_link_sides` prepared comes with the Vocab that
    coded it (and its remote side, when prepared too, with the same one)."""
    region = config.default_region
    if isinstance(remote, Prepared):
        if not isinstance(local, Prepared) or remote.vocab is not local.vocab:
            raise ValueError("a prepared remote side comes with the local side read_link_sides prepared with it")
        return local.take(region), remote.take(region)
    remote_side = _raw(remote)
    background = None
    if _worth_it(min(len(local), len(remote)), config):
        background = _Background(remote_side, region)
    if isinstance(local, Prepared):
        vocab, left = local.vocab, local.take(region)
    else:
        # Memos are shared with the other side only when this process normalises it too.
        vocab = Vocab(keep_memos=background is None)
        left = _table(local, vocab, region)
    if background is None:
        return left, _table(remote_side, vocab, region)
    make_own_keys(left)  # while the other process makes the remote side's
    columns, keys = background.result(vocab)
    return left, keep_own_keys(assemble(columns, vocab), keys)


def read_link_sides(local_path: Path, remote_path: Path, read: Callable[[Path], tuple[RawColumns, ReadReport]],
                    config: MatchConfig) -> tuple[Records, ReadReport, Records, ReadReport]:
    """Both files of a link run, read and normalised, for `match_records`: (local, its report,
    remote, its report), where `read` turns a path into columns and a report (and refuses a file
    that cannot be read).

    Large files are each read and normalised by a process of their own, the remote one in a second
    process that reads the file itself: reading is a fifth of a large run and was done here for both
    files before anything else could start. The decisions are the same as from `read` and
    `build_link_tables` alone; a failure over there (or a file it cannot read, which `read` then
    refuses here with its own message) only costs time."""
    region = config.default_region
    background = None
    if _worth_it(min(_lines(local_path), _lines(remote_path)), config):
        background = _Background(remote_path, region)
    if background is None:
        return (*read(local_path), *read(remote_path))
    try:  # anything failing here stops the other process, which would otherwise normalise on for nothing
        local, local_report = read(local_path)
        local.consume = True  # ours alone: let go of each raw column once normalised
        vocab = Vocab(keep_memos=False)  # the run's: codes this side first, as build_link_tables does
        with paused_gc():
            # normalising's memos only (its own Vocab, as in normalise_worker); the codes come from `vocab`
            columns = normalise(local, Vocab(keep_memos=False), region)
            keys = own_keys_of(columns)
            # The other process takes longer (it starts later and sends its side back): meanwhile this
            # side's table is coded, and the columns comparing would derive from it on first use are made.
            table = keep_own_keys(assemble(columns, vocab), keys)
            del columns, keys
            derive_columns(table)
    except BaseException:
        background.abandon()
        raise
    local_side = Prepared(table, vocab, region)
    answer = background.collect()
    if answer is None:  # failed over there: read here (and normalise in a second process as usual)
        return (local_side, local_report, *read(remote_path))
    columns, keys, remote_report = answer
    with paused_gc():
        remote_side = Prepared(keep_own_keys(assemble(columns, vocab), keys), vocab, region)
    return local_side, local_report, remote_side, remote_report


def _lines(path: Path) -> int:
    """Lines in the file: about its records for a CSV file (a quick count, to choose how to read it)."""
    count = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            count += chunk.count(b"\n")
    return count


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
    keys = own_keys_of(columns)
    other, other_keys = background.result(vocab)
    table = assemble(Normalised.concat(columns, other), vocab)
    return keep_own_keys(table, None if other_keys is None else concat_own_keys(keys, other_keys, len(first)))


def _worth_it(records: int, config: MatchConfig) -> bool:
    # Spawning costs about 0.2 s of start-up: below a few thousand records that is more than it saves.
    return config.workers >= 2 and 0 < config.background_table_min <= records


class _Background:
    """normalise(raw) and its own blocking keys (blocking.own_keys) in a second Python process,
    started at once; `result` collects them. Given a path instead, the process reads the file too
    (csvio.read_file), and `collect` gives the normalised columns and keys with the file's ReadReport.

    Input and output go through anonymous temporary files (unlinked from the start, so nothing is
    left on disk whatever happens), not pipes: a pipe moves 64 KiB at a time, and each step waits for
    the interpreter lock that this process's own normalising holds, which cost seconds at 100k records.
    """

    command = [sys.executable, "-m", "syncworker.matching.normalise_worker"]  # tests make it fail

    def __init__(self, raw: RawColumns | Path, region: str) -> None:
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

    def result(self, vocab: Vocab) -> tuple[Normalised, OwnKeys | None]:
        """The normalised columns and their own keys; when that failed (logged), the columns
        normalised here, and no keys (blocking makes them)."""
        assert isinstance(self._raw, RawColumns)
        answer = self._answer(Normalised, dict)
        return answer if answer is not None else (normalise(self._raw, vocab, self._region), None)

    def collect(self) -> tuple[Normalised, OwnKeys, ReadReport] | None:
        """For a path: its normalised columns, their own keys and the ReadReport; None when that failed
        (logged)."""
        return self._answer(Normalised, dict, ReadReport)

    def abandon(self) -> None:
        """Stop the process and drop its output (the run ends without it)."""
        proc, self._proc = self._proc, None
        output, self._output = self._output, None
        self._end(proc, output)

    def _answer(self, *kinds: type) -> Any:
        """The tuple of `kinds` sent back; None when anything failed (logged)."""
        proc, self._proc = self._proc, None
        output, self._output = self._output, None
        try:
            if proc is not None and output is not None:
                if proc.wait() != 0:
                    raise ChildProcessError(f"exit status {proc.returncode}")
                output.seek(0)
                answer = pickle.load(output)
                if not (isinstance(answer, tuple) and len(answer) == len(kinds)
                        and all(map(isinstance, answer, kinds))):
                    raise TypeError(f"got {type(answer).__name__}")
                return answer
        except Exception as exc:  # any failure over there: the caller does the share here
            self._failed(exc)
        finally:
            self._end(proc, output)
        return None

    @staticmethod
    def _end(proc: subprocess.Popen[bytes] | None, output: IO[bytes] | None) -> None:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if output is not None:
            output.close()

    def _failed(self, exc: Exception) -> None:
        # The type and exit status only: a message raised over there could quote a client's details.
        detail = str(exc) if isinstance(exc, ChildProcessError) else type(exc).__name__
        log.warning("matching: normalising in a second process failed (%s); normalising here instead", detail)
