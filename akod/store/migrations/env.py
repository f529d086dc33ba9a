"""Alembic's environment for akod's state database.

akod applies migrations itself at start (`akod.store.database.migrate`), on a plain synchronous
SQLite connection before the async engine opens; developers can also run `alembic -c alembic.ini
upgrade head` with `sqlalchemy.url` pointing at a copy of a state database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from akod.store.schema import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
