"""Alembic environment: runs migrations on the engine handed over by `Database.alembic_config()`, or
on the settings' database when alembic is invoked directly."""

from __future__ import annotations

from alembic import context

from syncworker.store.db import include_name
from syncworker.store.models import Base

config = context.config

engine = config.attributes.get("engine")
if engine is None:  # invoked as plain `alembic`, outside syncworker
    from syncworker.config import Settings
    from syncworker.store.db import Database

    settings = Settings.load()
    engine = Database(settings.database_url, secret_key=settings.secret_key).engine

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs table rebuilds to alter
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
