"""Persistence: SQLAlchemy models, the database handle, and repositories. Only the service layer and
entry points import this; the domain never does."""
