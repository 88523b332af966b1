"""The HTTP tests' module-scoped database (SQLite and PostgreSQL) serves the API fuzzing too."""

from tests.http.conftest import served_db  # noqa: F401 - a fixture, registered by importing it
