"""`syncworker match` and `syncworker dedupe`: stateless matching on canonical client CSV files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from syncworker.domain.csvsafe import safe_writer
from syncworker.matching import MatchConfig, find_duplicates, link_columns
from syncworker.matching.csvio import CsvInputError, ReadReport, read_file
from syncworker.matching.engine import return_freed_memory
from syncworker.matching.features import RawColumns
from syncworker.matching.tables import read_link_sides


def _load(path: Path) -> tuple[RawColumns, ReadReport]:
    """The records of a CSV or JSON file (JSON: a .json name, or text starting with '[' or '{') as
    the matcher's columns (no object per record), and what could not be parsed. Malformed values are
    kept and counted; only an unreadable file is refused."""
    try:
        return read_file(path)
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise click.ClickException(f"{path}: malformed CSV: {exc}") from None
    except CsvInputError as exc:
        raise click.ClickException(str(exc)) from None


def _echo_summary(summary: dict, line: str, reports: dict[str, ReadReport], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({**summary, "input": {k: r.as_dict() for k, r in reports.items()}}))
        return
    click.echo(line)
    for name, report in reports.items():
        if report.summary():
            click.echo(f"{name}: {report.summary()} (kept and compared as written)")


def _config(path: Path | None) -> MatchConfig:
    try:
        return MatchConfig.default(path) if path else MatchConfig.default()
    except (ValueError, TypeError) as exc:
        raise click.ClickException(f"matching config: {exc}") from None


_SCALE = ("score: the probability that the pair is one client; weight: the same as a match weight in bits "
          "(log2 of the odds, score = 2^weight / (1 + 2^weight)), which still tells pairs apart where the "
          "score rounds to 1.")

_config_option = click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Matching settings (YAML); defaults to config/matching.yaml.",
)


@click.command("match")
@click.argument("local_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("remote_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV file to write: local_id, remote_id, score, weight, decision, reasons. " + _SCALE)
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def match(local_csv: Path, remote_csv: Path, out_path: Path, config_path: Path | None, as_json: bool) -> None:
    """Link LOCAL_CSV records to REMOTE_CSV records one-to-one (canonical client CSV schema)."""
    config = _config(config_path)
    local, local_report, remote, remote_report = read_link_sides(local_csv, remote_csv, _load, config)
    return_freed_memory()  # the reader's transient columns, so they do not add to the run's peak
    linked, candidate_pairs = link_columns(local, remote, config)  # columns: no object per candidate to write
    with out_path.open("w", newline="", encoding="utf-8") as handle:
        writer = safe_writer(handle)
        writer.writerow(["local_id", "remote_id", "score", "weight", "decision", "reasons"])
        writer.writecolumns([linked.local_ids, linked.remote_ids, [f"{s:.6f}" for s in linked.scores],
                             [f"{w:.2f}" for w in linked.weights], linked.decisions,
                             list(map("; ".join, linked.reasons))])
    summary = {
        "local": len(local), "remote": len(remote),
        "link": linked.decisions.count("link"), "review": linked.decisions.count("review"),
        "candidate_pairs": candidate_pairs, "out": str(out_path),
    }
    _echo_summary(summary, f"{summary['local']} local, {summary['remote']} remote: {summary['link']} links, "
                           f"{summary['review']} to review -> {out_path}",
                  {"local": local_report, "remote": remote_report}, as_json)


@click.command("dedupe")
@click.argument("records_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV file to write: id_a, id_b, score, weight, decision, cluster_id, reasons. " + _SCALE)
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def dedupe(records_csv: Path, out_path: Path, config_path: Path | None, as_json: bool) -> None:
    """Find duplicate records within RECORDS_CSV (canonical client CSV schema)."""
    config = _config(config_path)
    records, report = _load(records_csv)
    return_freed_memory()
    result = find_duplicates(records, config)
    cluster_of = {m: c.cluster_id for c in result.clusters for m in c.member_ids}
    with out_path.open("w", newline="", encoding="utf-8") as handle:
        writer = safe_writer(handle)
        writer.writerow(["id_a", "id_b", "score", "weight", "decision", "cluster_id", "reasons"])
        pairs = result.pairs
        clusters = [cluster_of.get(p.id_a) for p in pairs]
        writer.writecolumns([
            [p.id_a for p in pairs], [p.id_b for p in pairs], [f"{p.score:.6f}" for p in pairs],
            [f"{p.weight:.2f}" for p in pairs], [p.decision for p in pairs],
            [c if c is not None and c == cluster_of.get(p.id_b) else "" for p, c in zip(pairs, clusters, strict=True)],
            ["; ".join(p.reasons) for p in pairs],
        ])
    summary = {
        "records": len(records), "duplicate": sum(p.decision == "duplicate" for p in result.pairs),
        "review": sum(p.decision == "review" for p in result.pairs), "clusters": len(result.clusters),
        "candidate_pairs": result.candidate_pairs, "out": str(out_path),
    }
    _echo_summary(summary, f"{summary['records']} records: {summary['duplicate']} duplicate pairs in "
                           f"{summary['clusters']} clusters, {summary['review']} to review -> {out_path}",
                  {"records": report}, as_json)


commands: list[click.Command] = [match, dedupe]
