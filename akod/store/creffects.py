"""The last accepted effect of each custom resource: what keeps a CR's last good spec across restarts.

A HostRule (and every CRD after it) that akod accepted acts on the controller's objects; when the
CR is edited into something invalid, its last good effect stays (a typo must not take a working
host offline), and that must hold after a restart too, when only the invalid spec is left in
Kubernetes. So the accepted body is kept here, one row per CR, written when the effect changes
and removed when the CR is deleted. The rows are few (one per CR) and read once at start.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from akod.store.operations import Alone, WriteContext
from akod.store.schema import Base

TABLE = Base.metadata.tables["cr_effects"]


@dataclasses.dataclass(frozen=True, slots=True)
class CrEffect:
    """One CR's accepted body (the trimmed body of `akod.kube.trimming.trim_custom_resource`)."""

    kind: str
    namespace: str
    name: str
    uid: str
    body: dict[str, Any]
    checksum: str
    accepted_at: str = ""


@dataclasses.dataclass(eq=False, slots=True)
class SaveCrEffect(Alone[None]):
    effect: CrEffect

    async def run(self, conn: AsyncConnection, ctx: WriteContext) -> None:
        e = self.effect
        row = {"kind": e.kind, "namespace": e.namespace, "name": e.name, "uid": e.uid,
               "body": json.dumps(e.body, sort_keys=True), "checksum": e.checksum, "accepted_at": ctx.stamp}
        stmt = sqlite_insert(TABLE).values(row)
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=["kind", "namespace", "name"],
            set_={k: stmt.excluded[k] for k in ("uid", "body", "checksum", "accepted_at")}))


@dataclasses.dataclass(eq=False, slots=True)
class DropCrEffect(Alone[None]):
    kind: str
    namespace: str
    name: str

    async def run(self, conn: AsyncConnection, ctx: WriteContext) -> None:
        t = TABLE
        await conn.execute(delete(t).where(t.c.kind == self.kind, t.c.namespace == self.namespace,
                                           t.c.name == self.name))


async def read_effects(engine: AsyncEngine, *, kind: str | None = None) -> list[CrEffect]:
    query = select(TABLE)
    if kind is not None:
        query = query.where(TABLE.c.kind == kind)
    async with engine.connect() as conn:
        rows = (await conn.execute(query.order_by(TABLE.c.kind, TABLE.c.namespace, TABLE.c.name))).mappings()
        return [CrEffect(kind=str(r["kind"]), namespace=str(r["namespace"]), name=str(r["name"]), uid=str(r["uid"]),
                         body=json.loads(r["body"]), checksum=str(r["checksum"]), accepted_at=str(r["accepted_at"]))
                for r in rows]
