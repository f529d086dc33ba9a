"""The SQLAlchemy Core statements the writer runs, built once per process.

Every write of the store is one of these, executed with a list of parameter dicts (one
`executemany` for all the rows of a batch) on the writer's connection. Naming them here keeps the
column lists of the upserts (what a conflict overwrites) in one place, next to their tables.

The statements of the hot path (a group's, see `operations.Group`) are also `Prepared`: rendered
once for SQLite by SQLAlchemy's compiler, then run with `AsyncConnection.exec_driver_sql` and one
tuple per row. `AsyncConnection.execute` would build each row's parameters again on every call
(about 3 us a row, measured: a third of the writer's time with 32 workers), for the same SQL text.

Bind parameters of WHERE clauses are prefixed `b_` so that they never collide with the column names
SQLAlchemy reserves for the VALUES or SET clause of the same statement.
"""

from __future__ import annotations

import dataclasses
import operator
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Delete, Insert, Integer, Table, Update, bindparam, delete, insert, literal_column, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from akod.store.schema import Base

_TABLES = Base.metadata.tables
APPLIED: Table = _TABLES["avi_applied"]
DESIRED: Table = _TABLES["avi_desired"]
JOURNAL: Table = _TABLES["journal"]
OBJECTS: Table = _TABLES["k8s_objects"]
CURSORS: Table = _TABLES["cursors"]
PROBLEMS: Table = _TABLES["object_errors"]


def _upsert(table: Table, *, overwrite: tuple[str, ...]) -> Insert:
    """INSERT a row, or on a primary-key conflict overwrite the columns `overwrite` of the stored one."""
    stmt = sqlite_insert(table)
    keys = [c.name for c in table.primary_key.columns]
    return stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in overwrite})


def _non_key(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns if not c.primary_key)


# avi_applied: rows as `codec.applied_params` makes them; deleted by identity.
UPSERT_APPLIED = _upsert(APPLIED, overwrite=_non_key(APPLIED))
INSERT_APPLIED: Insert = insert(APPLIED)
DELETE_APPLIED: Delete = delete(APPLIED).where(
    APPLIED.c.obj_type == bindparam("b_obj_type"), APPLIED.c.tenant == bindparam("b_tenant"),
    APPLIED.c.name == bindparam("b_name"))

# avi_desired: a key's set is replaced whole (delete the owner's rows, insert the new ones).
INSERT_DESIRED: Insert = insert(DESIRED)
DELETE_DESIRED_OF_OWNER: Delete = delete(DESIRED).where(DESIRED.c.owner_key == bindparam("b_owner"))

# journal: ids are given by the writer (it is the only one, see `operations.JournalIds`).
INSERT_JOURNAL: Insert = insert(JOURNAL)
UPDATE_OUTCOME: Update = update(JOURNAL).where(JOURNAL.c.id == bindparam("b_id")).values(
    state=bindparam("b_state"), last_error=bindparam("b_error"), updated_at=bindparam("b_stamp"))
UPDATE_ATTEMPT: Update = update(JOURNAL).where(JOURNAL.c.id == bindparam("b_id")).values(
    attempts=JOURNAL.c.attempts + literal_column("1", Integer), last_error=bindparam("b_error"), updated_at=bindparam("b_stamp"))

# k8s_objects and cursors: a watch batch upserts and deletes objects; its cursor moves with it.
UPSERT_OBJECT = _upsert(OBJECTS, overwrite=_non_key(OBJECTS))
DELETE_OBJECT: Delete = delete(OBJECTS).where(
    OBJECTS.c.kind == bindparam("b_kind"), OBJECTS.c.namespace == bindparam("b_namespace"),
    OBJECTS.c.name == bindparam("b_name"))
# A relist (or the first cursor) sets `listed_at`; a watch batch keeps the stored one.
UPSERT_CURSOR_LISTED = _upsert(CURSORS, overwrite=("resource_version", "updated_at", "listed_at"))
UPSERT_CURSOR_KEEP_LISTED = _upsert(CURSORS, overwrite=("resource_version", "updated_at"))

# object_errors: a problem that is new or changed is written whole; one that is gone is deleted.
UPSERT_PROBLEM = _upsert(PROBLEMS, overwrite=_non_key(PROBLEMS))
DELETE_PROBLEM: Delete = delete(PROBLEMS).where(
    PROBLEMS.c.kind == bindparam("b_kind"), PROBLEMS.c.namespace == bindparam("b_namespace"),
    PROBLEMS.c.name == bindparam("b_name"), PROBLEMS.c.field == bindparam("b_field"))


# -- prepared once, for the group's executemany ------------------------------------------------------

_SQLITE = sqlite.dialect()  # pysqlite's paramstyle (qmark), which aiosqlite shares


@dataclasses.dataclass(frozen=True, slots=True)
class Prepared:
    """A statement rendered for SQLite once, and the parameter names in placeholder order."""

    sql: str
    names: tuple[str, ...]
    _row: Callable[[Mapping[str, Any]], Any] = dataclasses.field(repr=False)

    @classmethod
    def of(cls, stmt: Insert | Update | Delete) -> Prepared:
        compiled = stmt.compile(dialect=_SQLITE)
        names = tuple(compiled.positiontup or ())
        fixed = {k: v for k, v in compiled.params.items() if v is not None}
        if fixed:  # a literal bound by the statement itself would be missing from the rows
            raise ValueError(f"statement binds values of its own ({fixed}): {compiled}")
        if len(names) == 1:
            only = names[0]
            return cls(sql=str(compiled), names=names, _row=lambda row: (row[only],))
        return cls(sql=str(compiled), names=names, _row=operator.itemgetter(*names))

    async def run(self, conn: AsyncConnection, rows: Iterable[Mapping[str, Any]]) -> None:
        """One `executemany` of the statement, one row per mapping (by parameter name).

        Run on the aiosqlite connection under the pooled one (`driver_connection`, public in
        SQLAlchemy 2), inside the transaction SQLAlchemy began on it: one hop to aiosqlite's thread
        per statement, where `exec_driver_sql` takes three (cursor, executemany, close)."""
        driver = (await conn.get_raw_connection()).driver_connection
        if driver is None:
            raise RuntimeError("the store's connection has no driver connection (closed?)")
        params = [self._row(row) for row in rows]
        try:
            await driver.executemany(self.sql, params)
        except sqlite3.Error as exc:  # as SQLAlchemy would have raised it (IntegrityError, ...)
            raise DBAPIError.instance(self.sql, params[:1], exc, sqlite3.Error) from exc


P_UPSERT_APPLIED = Prepared.of(UPSERT_APPLIED)
P_DELETE_APPLIED = Prepared.of(DELETE_APPLIED)
P_INSERT_DESIRED = Prepared.of(INSERT_DESIRED)
P_DELETE_DESIRED_OF_OWNER = Prepared.of(DELETE_DESIRED_OF_OWNER)
P_INSERT_JOURNAL = Prepared.of(INSERT_JOURNAL)
P_UPDATE_OUTCOME = Prepared.of(UPDATE_OUTCOME)
P_UPDATE_ATTEMPT = Prepared.of(UPDATE_ATTEMPT)
P_UPSERT_OBJECT = Prepared.of(UPSERT_OBJECT)
P_DELETE_OBJECT = Prepared.of(DELETE_OBJECT)
P_UPSERT_CURSOR_KEEP_LISTED = Prepared.of(UPSERT_CURSOR_KEEP_LISTED)
