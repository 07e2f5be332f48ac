"""Alembic environment: runs on the connection handed over by ``store.db``."""

from __future__ import annotations

from alembic import context

from shipyard.store.schema import Base

connection = context.config.attributes.get("connection")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite needs batch mode to alter tables
)
with context.begin_transaction():
    context.run_migrations()
