"""Opening the SQLite state database: file mode, WAL, pragmas, and migrations at start.

The file is created 0600 before SQLite touches it (it holds the cluster's topology; never secret
material, but nobody else needs to read it). WAL lets `akod state` read while the daemon writes.
`synchronous=NORMAL` in WAL mode is durable across a killed process, which is the crash the
journal is built for; after a power loss the last transactions may be gone, and boot reconcile
reads the controller back, so nothing is duplicated either way. Migrations run synchronously, once,
before the async engine opens; a read-only open never migrates.

Alembic is imported only when the schema is not at `SCHEMA_HEAD` already: importing it (with the
SQL dialects its DDL modules load) costs about 0.3 s of every start, and almost every start finds
the schema current. `SCHEMA_HEAD` must name the newest migration; a unit test compares it with
Alembic's own head, so a new migration that forgets it fails the tests instead of running late.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from typing import TYPE_CHECKING

from sqlalchemy import URL, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SCHEMA_HEAD = "0004"  # the newest revision in migrations/versions (checked by a unit test)


def _create_private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def migrate(*, path: Path) -> None:
    """Create the database if needed and bring its schema to the newest revision."""
    _create_private_file(path)
    engine = create_engine(URL.create("sqlite", database=str(path)))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            if _revision(conn) == SCHEMA_HEAD:
                return
            from alembic import command

            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


def _revision(conn: Any) -> str | None:
    """The schema revision Alembic recorded, None for a new database (or one it never migrated)."""
    try:
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).fetchall()
    except OperationalError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def database_url(*, path: Path, read_only: bool = False) -> URL:
    """The URL of the database at `path`, whatever characters the path holds.

    Built, not parsed, so that SQLAlchemy takes the path as it is; a read-only one is an SQLite
    `file:` URI (`mode=ro`), in which `%`, `?` and `#` of the path must be escaped.
    """
    if read_only:
        return URL.create("sqlite+aiosqlite", database=f"file:{pathname2url(str(path.absolute()))}",
                          query={"mode": "ro", "uri": "true"})
    return URL.create("sqlite+aiosqlite", database=str(path))


def open_engine(*, path: Path, read_only: bool = False) -> AsyncEngine:
    engine = create_async_engine(database_url(path=path, read_only=read_only))

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=5000")
        if not read_only:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine
