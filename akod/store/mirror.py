"""`avi_applied` (whole rows) and `avi_desired` (checksums) kept in memory.

A sync key reads what is applied for it and its stored desired checksums on every pass; answering
from SQLite would cost a query each time. Only this process writes the state database, and every
write goes through the store's one writer, which updates this mirror right after each commit and
before the caller's write returns. So a read from the mirror sees every write that has returned,
exactly as a fresh query would (records are stored as they read back, see `codec.applied_row`).

The writer loads the mirror once, before its first write, so no commit can slip in between the
load and the moment the mirror starts following the commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from sys import intern

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from akod.store.codec import Ident, applied_from, ident_of
from akod.store.records import Applied
from akod.store.statements import APPLIED, DESIRED


class Mirror:
    """What is applied (by identity and by owner key) and the desired checksums of each key."""

    __slots__ = ("applied", "owned", "desired")

    def __init__(self) -> None:
        self.applied: dict[Ident, Applied] = {}
        self.owned: dict[str, set[Ident]] = {}  # owner key -> idents of its applied rows
        self.desired: dict[str, dict[Ident, str]] = {}  # owner key -> ident -> checksum

    # -- reads -----------------------------------------------------------------------------------

    def applied_for_key(self, *, owner_key: str, idents: Iterable[Ident]) -> list[Applied]:
        found = {ident: self.applied[ident] for ident in self.owned.get(owner_key, ())}
        for ident in idents:
            a = self.applied.get(ident)
            if a is not None:
                found[ident] = a
        return list(found.values())

    def desired_checksums(self, *, owner_key: str) -> dict[Ident, str]:
        return dict(self.desired.get(owner_key, {}))

    # -- changes, called by the writer after each commit ----------------------------------------

    def put_applied(self, applied: Applied) -> None:
        ident = ident_of(applied)
        old = self.applied.get(ident)
        if old is not None and old.owner_key != applied.owner_key:
            self._disown(old.owner_key, ident)
        self.applied[ident] = applied
        self.owned.setdefault(applied.owner_key, set()).add(ident)

    def drop_applied(self, ident: Ident) -> None:
        old = self.applied.pop(ident, None)
        if old is not None:
            self._disown(old.owner_key, ident)

    def replace_applied(self, *, types: Collection[str], objects: Iterable[Applied]) -> None:
        """Every applied row of `types` goes; `objects` (as written) take their place."""
        for ident in [ident for ident in self.applied if ident[0] in types]:
            self.drop_applied(ident)
        for a in objects:
            self.put_applied(a)

    def set_desired(self, owner_key: str, checksums: dict[Ident, str]) -> None:
        if checksums:
            self.desired[owner_key] = dict(checksums)
        else:
            self.desired.pop(owner_key, None)

    def _disown(self, owner: str, ident: Ident) -> None:
        idents = self.owned.get(owner)
        if idents is not None:
            idents.discard(ident)
            if not idents:
                del self.owned[owner]


async def load_mirror(conn: AsyncConnection) -> Mirror:
    """The mirror as the database holds it now (read through `conn`, any connection to the file)."""
    mirror = Mirror()
    for row in (await conn.execute(select(APPLIED))).mappings():
        mirror.put_applied(applied_from(row))
    query = select(DESIRED.c.owner_key, DESIRED.c.obj_type, DESIRED.c.tenant, DESIRED.c.name, DESIRED.c.checksum)
    for owner, obj_type, tenant, name, checksum in await conn.execute(query):
        mirror.desired.setdefault(intern(str(owner)), {})[
            (intern(str(obj_type)), intern(str(tenant)), intern(str(name)))] = str(checksum)
    return mirror
