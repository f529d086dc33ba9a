"""avi_applied gets owner_key (which sync key wrote the object) and info (what the controller
assigned that the daemon needs later, e.g. a VsVip's allocated addresses).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("avi_applied") as batch:
        batch.add_column(sa.Column("owner_key", sa.String(), nullable=False, server_default=""))
        batch.add_column(sa.Column("info", sa.Text(), nullable=False, server_default="{}"))
    op.create_index("ix_avi_applied_owner", "avi_applied", ["owner_key"])
    op.execute("UPDATE avi_applied SET owner_key = 'vrf' WHERE obj_type = 'vrfcontext'")


def downgrade() -> None:
    op.drop_index("ix_avi_applied_owner", "avi_applied")
    with op.batch_alter_table("avi_applied") as batch:
        batch.drop_column("info")
        batch.drop_column("owner_key")
