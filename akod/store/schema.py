"""The state database's tables, as SQLAlchemy 2 declarative models.

The database is the daemon's memory and an operator's window into it (`sqlite3 state.db`), so the
tables are plain: one row per thing, JSON bodies as text, timestamps as ISO-8601 UTC text. The
schema only ever changes through an Alembic migration in `migrations/versions/`; this module must
describe the same tables as the newest migration (a test compares them).
"""

from __future__ import annotations

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class CursorRow(Base):
    """Per watched resource: the resourceVersion the next watch resumes from."""

    __tablename__ = "cursors"

    resource: Mapped[str] = mapped_column(String, primary_key=True)
    resource_version: Mapped[str] = mapped_column(String, nullable=False)
    listed_at: Mapped[str] = mapped_column(String, nullable=False)
    updated_at: Mapped[str] = mapped_column(String, nullable=False)


class K8sObjectRow(Base):
    """An observed Kubernetes object, trimmed to the fields akod uses (never secret material)."""

    __tablename__ = "k8s_objects"

    kind: Mapped[str] = mapped_column(String, primary_key=True)
    namespace: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String, primary_key=True)
    uid: Mapped[str] = mapped_column(String, nullable=False)
    resource_version: Mapped[str] = mapped_column(String, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[str] = mapped_column(String, nullable=False)


class AviDesiredRow(Base):
    """An Avi object akod wants on the controller, as last computed by the model."""

    __tablename__ = "avi_desired"

    obj_type: Mapped[str] = mapped_column(String, primary_key=True)
    tenant: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String, primary_key=True)
    owner_key: Mapped[str] = mapped_column(String, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    checksum: Mapped[str] = mapped_column(String, nullable=False)
    updated_at: Mapped[str] = mapped_column(String, nullable=False)
    role: Mapped[str] = mapped_column(String, nullable=False, default="", server_default="")
    subjects: Mapped[str] = mapped_column(Text, nullable=False, default="[]", server_default="[]")

    __table_args__ = (Index("ix_avi_desired_owner", "owner_key"),)


class AviAppliedRow(Base):
    """What akod last wrote (or found) on the controller for an Avi object."""

    __tablename__ = "avi_applied"

    obj_type: Mapped[str] = mapped_column(String, primary_key=True)
    tenant: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String, primary_key=True)
    uuid: Mapped[str] = mapped_column(String, nullable=False)
    checksum: Mapped[str] = mapped_column(String, nullable=False)
    last_modified: Mapped[str] = mapped_column(String, nullable=False, default="")
    applied_at: Mapped[str] = mapped_column(String, nullable=False)
    owner_key: Mapped[str] = mapped_column(String, nullable=False, default="", server_default="")
    info: Mapped[str] = mapped_column(Text, nullable=False, default="{}", server_default="{}")
    role: Mapped[str] = mapped_column(String, nullable=False, default="", server_default="")

    __table_args__ = (Index("ix_avi_applied_owner", "owner_key"),)


class JournalRow(Base):
    """One write to the controller: the intent before the call, the outcome after it."""

    __tablename__ = "journal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String, nullable=False)
    op: Mapped[str] = mapped_column(String, nullable=False)
    obj_type: Mapped[str] = mapped_column(String, nullable=False)
    tenant: Mapped[str] = mapped_column(String, nullable=False)
    name: Mapped[str] = mapped_column(String, nullable=False)
    checksum: Mapped[str] = mapped_column(String, nullable=False, default="")
    state: Mapped[str] = mapped_column(String, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[str] = mapped_column(String, nullable=False)
    updated_at: Mapped[str] = mapped_column(String, nullable=False)

    __table_args__ = (Index("ix_journal_state", "state"),)


class ObjectErrorRow(Base):
    """A Kubernetes object (or one field of it) that cannot be translated, and why."""

    __tablename__ = "object_errors"

    kind: Mapped[str] = mapped_column(String, primary_key=True)
    namespace: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String, primary_key=True)
    field: Mapped[str] = mapped_column(String, primary_key=True)
    reason: Mapped[str] = mapped_column(String, nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    since: Mapped[str] = mapped_column(String, nullable=False)


class CrEffectRow(Base):
    """A custom resource's last accepted effect (its trimmed body when akod accepted it)."""

    __tablename__ = "cr_effects"

    kind: Mapped[str] = mapped_column(String, primary_key=True)
    namespace: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String, primary_key=True)
    uid: Mapped[str] = mapped_column(String, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    checksum: Mapped[str] = mapped_column(String, nullable=False)
    accepted_at: Mapped[str] = mapped_column(String, nullable=False)
