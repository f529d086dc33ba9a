"""cr_effects: per custom resource (HostRule, HTTPRule, L4Rule, AviInfraSetting), the last spec akod
accepted, so that a CR that later becomes invalid keeps its last good effect across a restart.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cr_effects",
        sa.Column("kind", sa.String(), primary_key=True),
        sa.Column("namespace", sa.String(), primary_key=True),
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("uid", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("checksum", sa.String(), nullable=False),
        sa.Column("accepted_at", sa.String(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cr_effects")
