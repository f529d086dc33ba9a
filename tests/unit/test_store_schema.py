"""The state database: migrations build exactly the tables schema.py describes; files stay private."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect

from akod.store.database import alembic_config, migrate
from akod.store.schema import Base


def _columns_by_table(path: Path) -> dict[str, set[str]]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        insp = inspect(engine)
        return {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names() if t != "alembic_version"}
    finally:
        engine.dispose()


def test_migrations_build_the_tables_schema_py_describes(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    migrate(path=db)
    expected = {t.name: {c.name for c in t.columns} for t in Base.metadata.sorted_tables}
    assert _columns_by_table(db) == expected


def test_the_database_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    migrate(path=db)
    assert db.stat().st_mode & 0o777 == 0o600
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_upgrading_from_the_first_revision_keeps_rows_and_marks_the_vrf_owner(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.touch(mode=0o600)
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.exec_driver_sql(
            "INSERT INTO avi_applied VALUES ('vrfcontext', 'admin', 'VRF_AZ1', 'vrfcontext-1', 'abc', '1', 'now')")
    engine.dispose()
    migrate(path=db)
    row = sqlite3.connect(db).execute("SELECT name, owner_key, info FROM avi_applied").fetchone()
    assert row == ("VRF_AZ1", "vrf", "{}")
