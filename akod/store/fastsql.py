"""The store's hot path: whole transactions on the raw aiosqlite connection, SQL compiled once.

Through the ORM, one statement costs 3-4 trips to aiosqlite's thread (cursor, execute, fetch,
close), each a cross-thread hop plus SQLAlchemy's per-execution work; a sync key made ~30 of
them. Here each statement is one trip (`execute`, `executemany`, `execute_fetchall`), the SQL is
rendered by SQLAlchemy from the same `Table` objects once per process, and the writes of many
keys share one statement per table (group commit). Transactions are explicit: `BEGIN` is issued
by sqlite3 itself before the first DML (or by us when the connection is in autocommit mode) and
the caller commits; nothing is durable, and nothing may be assumed durable, before that commit.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import ClauseElement

from akod.store.schema import AviAppliedRow, AviDesiredRow, CursorRow, JournalRow, K8sObjectRow

_DIALECT = sqlite.dialect(paramstyle="qmark")
_quote = _DIALECT.identifier_preparer.quote

# SQLite's limit on bound parameters is 32766 since 3.32; stay far below it.
MAX_PARAMS = 8000


def compiled(stmt: ClauseElement) -> tuple[str, tuple[str, ...]]:
    """`stmt` rendered for SQLite with `?` placeholders, and the parameter names in order."""
    c = stmt.compile(dialect=_DIALECT)
    return str(c), tuple(c.positiontup or ())


def chunks(seq: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(seq), max(1, size)):
        yield seq[start:start + size]


_AT = AviAppliedRow.__table__
_DT = AviDesiredRow.__table__
_JT = JournalRow.__table__
_KT = K8sObjectRow.__table__
_CT = CursorRow.__table__

DESIRED_COLUMNS = ("obj_type", "tenant", "name", "owner_key", "body", "checksum", "updated_at")
INSERT_DESIRED = (f"INSERT INTO {_DT.name} ({', '.join(_quote(c) for c in DESIRED_COLUMNS)}) "
                  f"VALUES ({', '.join('?' for _ in DESIRED_COLUMNS)})")

JOURNAL_COLUMNS = ("key", "op", "obj_type", "tenant", "name", "checksum", "state", "attempts", "last_error",
                   "created_at", "updated_at")
JOURNAL_RETURNING = ("id", "key", "op", "obj_type", "tenant", "name")


@functools.lru_cache(maxsize=64)
def insert_journal(rows: int) -> str:
    """A multi-row INSERT of `rows` journal rows that returns their ids (and what identifies them)."""
    one = "(" + ", ".join("?" for _ in JOURNAL_COLUMNS) + ")"
    return (f"INSERT INTO {_JT.name} ({', '.join(_quote(c) for c in JOURNAL_COLUMNS)}) VALUES "
            + ", ".join(one for _ in range(rows))
            + f" RETURNING {', '.join(_quote(c) for c in JOURNAL_RETURNING)}")


JOURNAL_ROWS_PER_INSERT = MAX_PARAMS // len(JOURNAL_COLUMNS)


@functools.lru_cache(maxsize=64)
def delete_desired_of(owners: int) -> str:
    return f"DELETE FROM {_DT.name} WHERE {_quote('owner_key')} IN ({', '.join('?' for _ in range(owners))})"


UPDATE_OUTCOME, UPDATE_OUTCOME_PARAMS = compiled(
    update(_JT).where(_JT.c.id == bindparam("entry_id")).values(
        state=bindparam("new_state"), last_error=bindparam("error"), updated_at=bindparam("stamp")))


def _upsert_applied() -> Any:
    stmt = sqlite_insert(_AT)
    return stmt.on_conflict_do_update(
        index_elements=["obj_type", "tenant", "name"],
        set_={c: stmt.excluded[c] for c in ("uuid", "checksum", "last_modified", "applied_at", "owner_key", "info")})


UPSERT_APPLIED_STMT = _upsert_applied()
UPSERT_APPLIED, UPSERT_APPLIED_PARAMS = compiled(UPSERT_APPLIED_STMT)
DELETE_APPLIED, DELETE_APPLIED_PARAMS = compiled(
    delete(_AT).where(_AT.c.obj_type == bindparam("t"), _AT.c.tenant == bindparam("tn"), _AT.c.name == bindparam("n")))


def _upsert_objects() -> Any:
    stmt = sqlite_insert(_KT)
    return stmt.on_conflict_do_update(
        index_elements=["kind", "namespace", "name"],
        set_={c: stmt.excluded[c] for c in ("uid", "resource_version", "body", "updated_at")})


UPSERT_OBJECT, UPSERT_OBJECT_PARAMS = compiled(_upsert_objects())
DELETE_OBJECT, DELETE_OBJECT_PARAMS = compiled(
    delete(_KT).where(_KT.c.kind == bindparam("k"), _KT.c.namespace == bindparam("ns"), _KT.c.name == bindparam("n")))
SELECT_OBJECTS_OF_KIND = (f"SELECT {_quote('namespace')}, {_quote('name')}, uid, resource_version, body "
                          f"FROM {_KT.name} WHERE kind = ?")


def _upsert_cursor(*, listed: bool) -> tuple[str, tuple[str, ...]]:
    stmt = sqlite_insert(_CT)
    cols = ("resource_version", "updated_at", "listed_at") if listed else ("resource_version", "updated_at")
    return compiled(stmt.on_conflict_do_update(index_elements=["resource"],
                                               set_={c: stmt.excluded[c] for c in cols}))


# A relist (or the first cursor) sets `listed_at`; a watch batch keeps the stored one.
UPSERT_CURSOR_LISTED, UPSERT_CURSOR_PARAMS = _upsert_cursor(listed=True)
UPSERT_CURSOR_KEEP_LISTED, _KEEP_PARAMS = _upsert_cursor(listed=False)
assert _KEEP_PARAMS == UPSERT_CURSOR_PARAMS

SELECT_APPLIED = ("SELECT obj_type, tenant, name, uuid, checksum, last_modified, applied_at, owner_key, info "
                  f"FROM {_AT.name}")
SELECT_DESIRED_CHECKSUMS = f"SELECT owner_key, obj_type, tenant, name, checksum FROM {_DT.name}"


def ordered(params: tuple[str, ...], values: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(values[p] for p in params)
