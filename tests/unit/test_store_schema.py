"""The state database: migrations build exactly the tables schema.py describes; files stay private."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from akod.store import Store
from akod.store.database import SCHEMA_HEAD, alembic_config, migrate
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


def test_migrations_match_schema_py_column_for_column(tmp_path: Path) -> None:
    """Types, nullability and indexes as Alembic's autogenerate compares them, and server defaults.

    (Alembic's own server-default comparison reports SQLite's `''` as differing from `''`, so the
    defaults are compared here, as SQLite reports them.)
    """
    db = tmp_path / "state.db"
    migrate(path=db)
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []
            insp = inspect(conn)
            stored = {(t, c["name"]): c["default"] for t in insp.get_table_names() if t != "alembic_version"
                      for c in insp.get_columns(t)}
    finally:
        engine.dispose()
    described = {(t.name, c.name): None if c.server_default is None else f"'{c.server_default.arg}'"  # type: ignore[attr-defined]
                 for t in Base.metadata.sorted_tables for c in t.columns}
    assert stored == described


def test_upgrading_a_0002_database_gives_existing_rows_an_empty_role(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.touch(mode=0o600)
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.exec_driver_sql("INSERT INTO avi_applied VALUES "
                             "('pool', 'admin', 'p1', 'pool-1', 'c1', '1', 'then', 'l4:vs1', '{\"a\":1}')")
        conn.exec_driver_sql("INSERT INTO avi_desired VALUES ('pool', 'admin', 'p1', 'l4:vs1', '{}', 'c1', 'then')")
    engine.dispose()
    migrate(path=db)
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT name, owner_key, info, role FROM avi_applied").fetchall() == \
            [("p1", "l4:vs1", '{"a":1}', "")]
        assert check.execute("SELECT name, owner_key, checksum, role FROM avi_desired").fetchall() == \
            [("p1", "l4:vs1", "c1", "")]
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert check.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]


async def test_a_store_opened_on_an_upgraded_0002_database_reads_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.touch(mode=0o600)
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.exec_driver_sql("INSERT INTO avi_applied VALUES "
                             "('pool', 'admin', 'p1', 'pool-1', 'c1', '1', 'then', 'l4:vs1', '{}')")
        conn.exec_driver_sql("INSERT INTO journal VALUES (7, 'l4:vs1', 'POST', 'pool', 'admin', 'p1', 'c1', "
                             "'intent', 1, '', 'then', 'then')")
    engine.dispose()
    store = await Store.open(path=db)
    try:
        (applied,) = await store.applied_for_key(owner_key="l4:vs1", idents=[])
        assert (applied.name, applied.uuid, applied.role) == ("p1", "pool-1", "")
        # journal ids go on from the largest stored one
        assert await store.journal_intent(key="l4:vs1", op="PUT", obj_type="pool", tenant="admin", name="p1",
                                          checksum="c2") == 8
    finally:
        await store.close()


async def test_a_state_path_with_uri_characters_is_written_and_read_where_it_says(tmp_path: Path) -> None:
    directory = tmp_path / "a b#c?d%20e"
    directory.mkdir()
    db = directory / "state.db"
    store = await Store.open(path=db)
    try:
        entry = await store.journal_intent(key="k", op="POST", obj_type="pool", tenant="admin", name="p", checksum="c")
        assert [j.id for j in await store.journal()] == [entry]  # the read-only engine opened the same file
    finally:
        await store.close()
    assert sqlite3.connect(db).execute("SELECT count(*) FROM journal").fetchone() == (1,)
    assert sorted(p.name for p in tmp_path.iterdir()) == [directory.name]


def test_schema_head_names_the_newest_migration() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_HEAD


def test_a_current_database_opens_without_importing_alembic_and_an_old_one_is_upgraded(tmp_path: Path) -> None:
    current, old = tmp_path / "current.db", tmp_path / "old.db"
    migrate(path=current)
    engine = create_engine(f"sqlite:///{old}")
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    engine.dispose()
    probe = ("import sys; from pathlib import Path; from akod.store.database import migrate; "
             "migrate(path=Path(sys.argv[1])); print('alembic' in sys.modules)")

    loaded = [subprocess.run([sys.executable, "-c", probe, str(p)], capture_output=True, text=True, check=True,
                             timeout=60).stdout.strip() for p in (current, old)]

    assert loaded == ["False", "True"]
    with sqlite3.connect(old) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(SCHEMA_HEAD,)]
