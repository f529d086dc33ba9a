"""Opening the SQLite state database: file mode, WAL, pragmas, and migrations at start.

The file is created 0600 before SQLite touches it (it holds the cluster's topology; never secret
material, but nobody else needs to read it). WAL lets `akod state` read while the daemon writes.
`synchronous=NORMAL` in WAL mode is durable across a killed process, which is the crash the
journal is built for; after a power loss the last transactions may be gone, and boot reconcile
reads the controller back, so nothing is duplicated either way. Migrations run synchronously, once,
before the async engine opens; a read-only open never migrates.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _create_private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def alembic_config() -> Config:
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
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


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
