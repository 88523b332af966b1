"""Transactional import of clients and contacts from canonical CSV or JSON.

By default a file with any bad row is rejected whole, every bad row named with its line and reason, and
nothing is written. With `skip_invalid` the good rows are imported and the rejects written to a file.
Re-importing the same file updates records by `id` and changes nothing else: a row whose values equal the
stored ones is not written, so its version does not move.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from syncworker.domain.csvsafe import safe_writer
from syncworker.domain.rows import RowInvalid, check_columns, parse_client_row, parse_contact_row
from syncworker.services.files import FileUnreadable, SourceRow, read_records
from syncworker.services.runs import RunRecorder
from syncworker.services.tenants import get_tenant
from syncworker.store.db import Database
from syncworker.store.mapping import client_columns, contact_columns, derived_columns, json_ready
from syncworker.store.models import AuditEntry, Client, Contact
from syncworker.store.types import sealer_for, utcnow


@dataclass(slots=True)
class RejectedRow:
    location: str
    record_id: str | None
    reasons: list[str]
    values: dict[str, Any]


@dataclass(slots=True)
class ImportReport:
    entity: str
    file: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    run_id: int | None = None
    rejects_file: str | None = None

    @property
    def status(self) -> str:
        return "partial" if self.rejected else "succeeded"

    def counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": len(self.rejected)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity, "file": self.file, "status": self.status, "run_id": self.run_id,
            **self.counts(), "rejects_file": self.rejects_file,
            "rejected_rows": [{"location": r.location, "id": r.record_id, "reasons": r.reasons} for r in self.rejected],
        }


class ImportRejected(ValueError):
    """The file had bad rows and nothing was imported."""

    def __init__(self, report: ImportReport) -> None:
        n = len(report.rejected)
        super().__init__(f"{report.file}: {n} bad row{'s' if n != 1 else ''}; nothing was imported")
        self.report = report


def import_clients(db: Database, tenant_name: str, path: Path, *, skip_invalid: bool = False,
                   rejects_path: Path | None = None) -> ImportReport:
    return _Importer(db, "clients", tenant_name, path, skip_invalid, rejects_path).run()


def import_contacts(db: Database, tenant_name: str, path: Path, *, skip_invalid: bool = False,
                    rejects_path: Path | None = None) -> ImportReport:
    return _Importer(db, "contacts", tenant_name, path, skip_invalid, rejects_path).run()


class _Importer:
    def __init__(self, db: Database, entity: str, tenant_name: str, path: Path, skip_invalid: bool,
                 rejects_path: Path | None) -> None:
        self.db, self.entity, self.tenant_name, self.path = db, entity, tenant_name, path
        self.skip_invalid = skip_invalid
        self.rejects_path = rejects_path or path.with_name(path.stem + ".rejects.csv")
        self.runs = RunRecorder(db)

    def run(self) -> ImportReport:
        with self.db.session() as s:
            tenant_id = get_tenant(s, self.tenant_name).id
        report = ImportReport(self.entity, str(self.path))
        report.run_id = self.runs.start(f"import_{self.entity}", tenant_id=tenant_id, trigger="cli",
                                        params={"file": self.path.name, "skip_invalid": self.skip_invalid})
        try:
            source = read_records(self.path)
            header_problems = check_columns(source.columns, contacts=self.entity == "contacts")
            if header_problems:
                raise FileUnreadable(f"{self.path}: " + "; ".join(header_problems))
            with self.db.session() as s:
                self._import(s, tenant_id, source.rows, report)
                if report.rejected and not self.skip_invalid:
                    raise ImportRejected(report)  # rolls the whole transaction back
            if report.rejected:
                report.rejects_file = str(self.rejects_path)
                _write_rejects(self.rejects_path, source.columns, report.rejected)
        except ImportRejected as exc:
            report.created = report.updated = report.unchanged = 0
            self.runs.finish(report.run_id, "failed", counts=report.counts(), message=str(exc),
                             errors=[{"location": r.location, "reasons": r.reasons} for r in report.rejected])
            raise
        except FileUnreadable as exc:
            self.runs.finish(report.run_id, "failed", message=str(exc))
            raise
        except Exception as exc:
            # Not the exception's text: a database error quotes the row it refused (client data).
            self.runs.finish(report.run_id, "failed", message=f"internal error: {type(exc).__name__}")
            raise
        self.runs.finish(report.run_id, report.status, counts=report.counts(),
                         errors=[{"location": r.location, "reasons": r.reasons} for r in report.rejected])
        return report

    def _import(self, s: Any, tenant_id: int, rows: list[SourceRow], report: ImportReport) -> None:
        parse = parse_client_row if self.entity == "clients" else parse_contact_row
        parsed: list[tuple[SourceRow, Any]] = []
        ids = Counter(str(r.values.get("id") or "").strip() for r in rows)
        first_seen: dict[str, str] = {}
        client_pks: dict[str, int] = {}
        if self.entity == "contacts":
            client_pks = dict(s.execute(select(Client.external_id, Client.id).where(Client.tenant_id == tenant_id)).all())
        for row in rows:
            reasons = list(row.problems)
            record_id = str(row.values.get("id") or "").strip() or None
            if record_id and ids[record_id] > 1:
                if record_id in first_seen:
                    reasons.append(f"id: duplicate id {record_id!r} (also on {first_seen[record_id]})")
                else:
                    first_seen[record_id] = row.location
                    reasons.append(f"id: duplicate id {record_id!r} appears {ids[record_id]} times in the file")
            profile = None
            try:
                profile = parse(row.values)
            except RowInvalid as exc:
                reasons.extend(str(p) for p in exc.problems)
            if profile is not None and self.entity == "contacts" and profile.client_ids[0] not in client_pks:
                reasons.append(f"client_id: no client with id {profile.client_ids[0]!r} in this tenant")
            if reasons:
                report.rejected.append(RejectedRow(row.location, record_id, reasons, row.values))
            else:
                parsed.append((row, profile))
        if self.entity == "clients":
            self._write_clients(s, tenant_id, [p for _, p in parsed], report)
        else:
            self._write_contacts(s, tenant_id, [p for _, p in parsed], client_pks, report)

    def _write_clients(self, s: Any, tenant_id: int, profiles: list[Any], report: ImportReport) -> None:
        # Columns the import file does not carry (postal address, website, status) keep their stored values.
        def from_file(cols: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in cols.items() if not k.startswith("postal_") and k not in ("website", "status")}

        if any(p.tax_number for p in profiles):
            sealer_for(s.get_bind().dialect, "stored")  # no key: refuse before a statement quotes the rows
        rows = [(p.id, client_columns(p)) for p in profiles]
        self._upsert(s, Client, "client", tenant_id, rows, report, {"other_emails": []}, from_file)

    def _write_contacts(self, s: Any, tenant_id: int, profiles: list[Any], client_pks: dict[str, int],
                        report: ImportReport) -> None:
        rows = [(p.id, {**contact_columns(p), "client_id": client_pks[p.client_ids[0]]}) for p in profiles]
        self._upsert(s, Contact, "contact", tenant_id, rows, report, {}, lambda cols: cols)

    def _upsert(self, s: Any, model: Any, entity: str, tenant_id: int, rows: list[tuple[str, dict[str, Any]]],
                report: ImportReport, new_defaults: dict[str, Any],
                updatable: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Insert new records in bulk; update existing ones only where a value differs (their version moves
        only then); audit every write."""
        existing = {r.external_id: r for r in s.scalars(select(model).where(model.tenant_id == tenant_id))}
        new_rows, audits = [], []
        now = utcnow()
        for external_id, cols in rows:
            row = existing.get(external_id)
            if row is None:
                new_rows.append({"tenant_id": tenant_id, "external_id": external_id, "version": 1,
                                 "created_at": now, "updated_at": now, **new_defaults, **cols,
                                 **derived_columns(model, cols)})
                audits.append(_audit(tenant_id, entity, external_id, "create", None, cols, report.run_id))
                continue
            cols = updatable(cols)
            before = {k: getattr(row, k) for k in cols}
            changed = {k: v for k, v in cols.items() if before[k] != v}
            if not changed:
                report.unchanged += 1
                continue
            for k, v in changed.items():
                setattr(row, k, v)
            audits.append(_audit(tenant_id, entity, external_id, "update", {k: before[k] for k in changed}, changed,
                                 report.run_id))
            report.updated += 1
        if new_rows:
            s.execute(insert(model), new_rows)
        if audits:
            s.execute(insert(AuditEntry), audits)
        report.created += len(new_rows)


def _audit(tenant_id: int, entity: str, entity_id: str, action: str, before: dict[str, Any] | None,
           after: dict[str, Any] | None, run_id: int | None) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id, "at": utcnow(), "actor": "import", "origin": "local", "target": "local",
        "entity": entity, "entity_id": entity_id, "action": action,
        "before": json_ready(before) if before else None, "after": json_ready(after) if after else None,
        "run_id": run_id,
    }


def _write_rejects(path: Path, columns: list[str], rejected: list[RejectedRow]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = safe_writer(fh)
        writer.writerow(["location", "reasons", *columns])
        for r in rejected:
            writer.writerow([r.location, "; ".join(r.reasons), *(r.values.get(c, "") for c in columns)])
