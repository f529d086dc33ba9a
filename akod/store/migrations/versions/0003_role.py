"""avi_desired and avi_applied get role: what the sync layer says an object is for within its key
("" for every existing row, which is what the daemon assumed before the column existed); avi_desired
gets subjects: the Kubernetes objects a desired object is made for ("[]": all of its key's).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("avi_desired", "avi_applied")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("role", sa.String(), nullable=False, server_default=""))
    with op.batch_alter_table("avi_desired") as batch:
        batch.add_column(sa.Column("subjects", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("avi_desired") as batch:
        batch.drop_column("subjects")
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("role")
