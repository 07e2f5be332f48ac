"""prediction events: one index by endpoint and time, a key index of keyed events only

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 03:20:00

Each index costs every insert (the monitoring worker stores thousands of events a
second): the reads go by endpoint and time together, so two single-column indexes
become one, and the key index keeps only events that were routed by a key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_KEYED = sa.text("key IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("prediction_events", schema=None) as batch_op:
        batch_op.drop_index("ix_prediction_events_at")
        batch_op.drop_index("ix_prediction_events_endpoint")
        batch_op.drop_index("ix_prediction_events_key")
        batch_op.create_index("ix_prediction_events_endpoint_at", ["endpoint", "at"])
        batch_op.create_index(
            "ix_prediction_events_key",
            ["key", "endpoint", "at"],
            sqlite_where=_KEYED,
            postgresql_where=_KEYED,
        )


def downgrade() -> None:
    with op.batch_alter_table("prediction_events", schema=None) as batch_op:
        batch_op.drop_index("ix_prediction_events_key")
        batch_op.drop_index("ix_prediction_events_endpoint_at")
        batch_op.create_index("ix_prediction_events_key", ["key"])
        batch_op.create_index("ix_prediction_events_endpoint", ["endpoint"])
        batch_op.create_index("ix_prediction_events_at", ["at"])
