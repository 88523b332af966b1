"""What every command shares: settings, the database, output in tables or JSON, and turning known
errors into a clear message and a non-zero exit."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console

    from syncworker.config import Settings
    from syncworker.services.context import ServiceContext
    from syncworker.store.db import Database

F = TypeVar("F", bound=Callable[..., Any])


class CommandError(click.ClickException):
    """An expected failure: printed as `error: …` and exit status 1."""


class App:
    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._db: Database | None = None
        self._services: ServiceContext | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from syncworker.config import ConfigError, Settings
            from syncworker.logs import configure_logging

            try:
                self._settings = Settings.load()  # reads and validates every section of the tree
            except (ConfigError, ValueError) as exc:
                raise CommandError(str(exc)) from None
            configure_logging(self._settings.log_level, self._settings.log_format)
        return self._settings

    def services(self) -> ServiceContext:
        """The command's ServiceContext, built by the composition root on the current database."""
        if self._services is None:
            from syncworker.bootstrap import build_context

            self._services = build_context(self.settings, db=self.database())
        return self._services

    def database(self, *, require_current: bool = True) -> Database:
        from syncworker.store.db import Database, SchemaNotCurrent

        if self._db is None:
            self._db = Database(self.settings.database_url, secret_key=self.settings.secret_key)
        if require_current:
            try:
                self._db.require_current()
            except SchemaNotCurrent as exc:
                raise CommandError(str(exc)) from None
        return self._db

    @property
    def database_url(self) -> str | None:
        """The database URL once the settings are loaded (for error messages), else None."""
        return self._settings.database_url if self._settings is not None else None

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


def one_line(exc: BaseException, database_url: str | None) -> str:
    """An unexpected error as one line for the operator: our own errors by their message, a database that
    cannot be reached by its host and port (never the URL: it may hold a password), anything else by its
    type only (its text may quote client data)."""
    from sqlalchemy.exc import OperationalError, StatementError

    from syncworker.store.crypto import SecretKeyError

    cause = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    if isinstance(cause, SecretKeyError):
        return str(cause)
    if isinstance(exc, OperationalError):
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        where = _database_place(database_url)
        if where is None:
            return f"database error: {reason}"
        return f"cannot reach the database at {where}: {reason.rsplit('failed: ', 1)[-1]}"
    return f"unexpected {type(exc).__name__}: run again with `syncworker --debug …` for the traceback"


def _database_place(database_url: str | None) -> str | None:
    """host:port of a server database (None for SQLite or when unknown)."""
    from sqlalchemy.engine import make_url

    if not database_url:
        return None
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return None
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def get_app() -> App:
    ctx = click.get_current_context()
    app = ctx.find_object(App)
    if app is None:
        app = ctx.ensure_object(App)
    return app


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def handles_errors(*known: type[BaseException]) -> Callable[[F], F]:
    """Turn the listed exceptions into `error: <message>` with exit status 1."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except known as exc:
                raise CommandError(str(exc)) from None

        return inner  # type: ignore[return-value]

    return wrap


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def console() -> Console:
    from rich.console import Console

    # Piped output gets a wide fixed width, so tables are not squeezed into 80 columns.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def print_table(rows: Sequence[dict[str, Any]], columns: Iterable[str] | None = None, title: str | None = None) -> None:
    if not rows:
        click.echo(f"{title + ': ' if title else ''}nothing to show")
        return
    from rich.table import Table

    cols = list(columns or rows[0].keys())
    table = Table(title=title, show_lines=False)
    for c in cols:
        table.add_column(c)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in cols))
    console().print(table)


def print_record(record: dict[str, Any], title: str | None = None) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for k, v in record.items():
        if v not in (None, "", [], {}):
            table.add_row(k, v if isinstance(v, str) else json.dumps(v, default=str))
    console().print(table)


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def echo_run_head(kind: str, report: Any) -> None:
    """First lines of a run report: '<kind> <id> for <tenant> / <system>: STATUS', dry run, message."""
    head = f"{kind} {report.run_id} for {report.tenant} / {report.system}: {report.status.upper()}"
    if report.dry_run:
        head += "  (DRY RUN: nothing was written)"
    click.echo(head)
    if report.message:
        click.echo(f"  {report.message}")
    api = getattr(report, "api_calls", None)
    if api:
        click.echo(f"  API: {api_usage_line(api)}")


def api_usage_line(api: dict[str, int]) -> str:
    """Calls made, retries, 429s and the day budget left, from the adapter's fixed stat names."""
    left = api.get("day_remaining")
    return (f"{api.get('calls', 0)} calls, {api.get('retries', 0)} retries, "
            f"{api.get('rate_limited_minute', 0)} minute 429s, {api.get('rate_limited_day', 0)} day 429s, "
            f"day budget left {left if left is not None else 'unknown'}")
