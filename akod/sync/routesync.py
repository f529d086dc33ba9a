"""Keeping this cluster's static routes in the VRF equal to what the Nodes call for.

The VRF is not ours: other clusters and people keep routes in it. So the write is a
read-modify-write of `static_routes` that keeps every route not labelled with our cluster, sent
with the `_last_modified` just read; a 412 (someone wrote in between) means read again and retry.

Crash safety: a journal row is written before each PUT and closed after it. A row still open
(a crash, a timeout with unknown outcome) is resolved by reading the VRF back: if our routes are
already there the row is closed as done, otherwise it is superseded by a new write. Because the
comparison is with the controller's own copy, a restart with nothing changed writes nothing, and
drift made by hand on the controller is repaired on the next pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from akod.avi import AviClient, AviError, AviPreconditionFailed
from akod.model.routes import merge_routes, plan_routes, routes_checksum, same_routes
from akod.store import DONE, FAILED, INTENT, SUPERSEDED, Applied, Desired, Store
from akod.sync.discovery import ADMIN, ControllerContext
from akod.sync.reporting import ProblemReporter

log = logging.getLogger("akod.sync")
KEY = "vrf"
OBJ_TYPE = "vrfcontext"


class NotDiscovered(Exception):
    """The controller context (VRF) is not known yet; boot reconcile has not finished."""


class RouteSync:
    def __init__(
        self,
        *,
        store: Store,
        client: AviClient,
        reporter: ProblemReporter,
        cluster: str,
        enabled: Callable[[], bool],
        context: Callable[[], ControllerContext | None],
        max_412_retries: int = 8,
    ) -> None:
        self._store = store
        self._client = client
        self._reporter = reporter
        self._cluster = cluster
        self._enabled = enabled
        self._context = context
        self._max_412 = max_412_retries
        self.verify_next = True  # the first pass after start compares with the controller's copy
        self.route_count = 0

    async def desired_routes(self) -> list[dict[str, Any]]:
        nodes = await self._store.observed(kind="Node")
        plan = plan_routes(cluster=self._cluster, node_bodies=[n.body for n in nodes], enabled=self._enabled())
        await self._reporter.replace(kind="Node", problems=plan.problems)
        return plan.to_avi(cluster=self._cluster)

    async def sync(self, key: str = KEY) -> None:
        ctx = self._context()
        if ctx is None:
            raise NotDiscovered("the VRF is not known yet (waiting for the controller)")
        ours = await self.desired_routes()
        cks = routes_checksum(ours)
        await self._store.replace_desired(
            owner_key=KEY,
            objects=[Desired(obj_type=OBJ_TYPE, tenant=ADMIN, name=ctx.vrf, owner_key=KEY,
                             body={"static_routes": ours}, checksum=cks)],
        )
        open_rows = await self._open_journal_rows()
        applied = await self._store.applied(obj_type=OBJ_TYPE, tenant=ADMIN, name=ctx.vrf)
        if not open_rows and not self.verify_next and applied is not None and applied.checksum == cks:
            return
        await self._converge(ctx=ctx, ours=ours, cks=cks, open_rows=open_rows)
        self.verify_next = False
        if self.route_count != len(ours) or applied is None or applied.checksum != cks:
            log.info("Number of static routes %d", len(ours))
        self.route_count = len(ours)

    async def _open_journal_rows(self) -> list[int]:
        rows = await self._store.journal(states=[INTENT], limit=1000)
        return [r.id for r in rows if r.key == KEY]

    async def _converge(self, *, ctx: ControllerContext, ours: Sequence[dict[str, Any]], cks: str,
                        open_rows: list[int]) -> None:
        unresolved = list(open_rows)
        for _ in range(self._max_412):
            current = await self._client.get(f"/api/{OBJ_TYPE}/{ctx.vrf_uuid}", tenant=ADMIN)
            existing = current.get("static_routes") or []
            if same_routes(existing=existing, ours=ours, cluster=self._cluster):
                applied = Applied(obj_type=OBJ_TYPE, tenant=ADMIN, name=ctx.vrf, uuid=ctx.vrf_uuid, checksum=cks, owner_key=KEY,
                                  last_modified=str(current.get("_last_modified", "")))
                for entry in unresolved:
                    await self._store.journal_outcome(entry_id=entry, state=DONE, error="resolved by reading back")
                await self._store.record_applied(applied)
                return
            for entry in unresolved:
                await self._store.journal_outcome(entry_id=entry, state=SUPERSEDED,
                                                  error="not on the controller when read back; written again")
            unresolved = []
            body = dict(current)
            body["static_routes"] = merge_routes(existing=existing, ours=ours, cluster=self._cluster)
            entry = await self._store.journal_intent(key=KEY, op="PUT", obj_type=OBJ_TYPE, tenant=ADMIN,
                                                     name=ctx.vrf, checksum=cks)
            try:
                result = await self._client.put(OBJ_TYPE, ctx.vrf_uuid, body, tenant=ADMIN)
            except AviPreconditionFailed as exc:
                log.info("VRF %s changed while we wrote it (412); reading it again", ctx.vrf)
                await self._store.journal_outcome(entry_id=entry, state=SUPERSEDED, error=f"412: {exc}")
                continue
            except AviError as exc:
                if exc.status in (400, 403, 404):
                    await self._store.journal_outcome(entry_id=entry, state=FAILED, error=str(exc))
                else:
                    # Outcome unknown (5xx after retries, connection lost): the row stays open and
                    # the next pass resolves it by reading the VRF back.
                    await self._store.journal_attempt(entry_id=entry, error=str(exc))
                raise
            except Exception as exc:
                await self._store.journal_attempt(entry_id=entry, error=f"{type(exc).__name__}: {exc}")
                raise
            applied = Applied(obj_type=OBJ_TYPE, tenant=ADMIN, name=ctx.vrf, uuid=ctx.vrf_uuid, checksum=cks, owner_key=KEY,
                              last_modified=str(result.get("_last_modified", "")))
            await self._store.journal_outcome(entry_id=entry, state=DONE, applied=applied)
            return
        raise RuntimeError(f"VRF {ctx.vrf} kept changing under us ({self._max_412} times 412); will retry")
