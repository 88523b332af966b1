"""The schema is created and changed only by migrations: upgrade, downgrade to nothing, upgrade again,
on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from syncworker.store.db import Database
from syncworker.store.models import Base


def _tables(db: Database) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names(schema=db.schema)) - {"alembic_version"}


def _round_trip(db: Database) -> None:
    assert _tables(db) == set()
    db.upgrade()
    assert _tables(db) == set(Base.metadata.tables)
    assert db.current_revision() == db.head_revision()
    db.downgrade("base")
    assert _tables(db) == set()
    assert db.current_revision() is None
    db.upgrade()
    assert _tables(db) == set(Base.metadata.tables)


def test_migration_round_trip(blank_db: Database) -> None:
    _round_trip(blank_db)


def test_models_match_migrations(db: Database) -> None:
    """Autogenerate finds nothing to do: the models and the migrations describe the same schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from syncworker.store.db import include_name

    if db.dialect == "postgresql":  # `db upgrade` puts the job queue's tables beside ours: they are not drift
        from syncworker.jobs.procrastinate_executor import install_schema

        install_schema(db)
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False, "include_name": include_name})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []
