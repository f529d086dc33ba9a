"""Writing the Avi objects a key owns: ordered, journaled, idempotent, and safe to crash in.

For one key (one L4 Service, one L7 shard...) the model gives the whole desired set. This module
makes the controller match it:

- objects are written in dependency order (children first) and stale ones deleted in reverse;
- an object whose desired checksum equals the one last applied is not written at all;
- each write has a journal row: `intent` before the call, its outcome after (`writes` makes the
  call and says how it ended: adopt on 409, create on a PUT's 404, read back when unknown);
- a row left open (`intent`: the outcome was not known) is settled by the key's next sync that
  succeeds, which leaves the controller holding exactly the desired set; a row cut off in flight
  (a stop, a cancel) is `unknown`, and the start-up sequence settles it from the controller.

Errors the controller gives for the object itself (400, 403, 422, a DELETE refused because the
object is referred to) stop the key and are raised as `ObjectRejected`, which the caller turns
into an object error for the Kubernetes object; anything else propagates and the engine retries
the key with backoff.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from akod.avi import AviClient, AviError, AviUnavailable
from akod.model.objects import AviObject, rank_of
from akod.store import DONE, FAILED, INTENT, SUPERSEDED, UNKNOWN, Applied, Desired, Store
from akod.sync import rulesets
from akod.sync.suspects import DELETED, DriftLedger, Suspect
from akod.sync.writes import ObjectWriter

log = logging.getLogger("akod.sync")
Ident = tuple[str, str, str]


class ObjectRejected(Exception):
    """The controller refused a write or a delete of an object (400/403/422): the same cannot succeed."""

    def __init__(self, *, obj: AviObject, error: AviError, delete: bool = False) -> None:
        super().__init__(f"{obj.obj_type} {obj.name}: {error.message}")
        self.obj = obj
        self.error = error
        self.delete = delete  # a DELETE was refused (e.g. still referred to), not a write of `obj`

    @classmethod
    def of_delete(cls, *, applied: Applied, error: AviError) -> ObjectRejected:
        return cls(obj=AviObject(applied.obj_type, applied.tenant, applied.name, {}, role=applied.role), error=error,
                   delete=True)


def _ident(obj: AviObject | Applied) -> Ident:
    return (obj.obj_type, obj.tenant, obj.name)


def removal_order(applied: Applied) -> tuple[int, str]:
    """Sort key for deletes (highest first): referrers before what they refer to (by role: an SNI
    child goes before the shard VS it hangs on)."""
    return (rank_of(applied.obj_type, applied.role), applied.name)


def applied_info(obj_type: str, body: dict[str, Any]) -> dict[str, Any]:
    """What to remember of the controller's answer: the addresses IPAM gave a VsVip, the rules of a policy set."""
    if obj_type == "httppolicyset":
        return rulesets.applied_info(body)
    if obj_type != "vsvip":
        return {}
    v4, v6 = [], []
    for vip in body.get("vip") or []:
        if (vip.get("ip_address") or {}).get("addr"):
            v4.append(vip["ip_address"]["addr"])
        if (vip.get("ip6_address") or {}).get("addr"):
            v6.append(vip["ip6_address"]["addr"])
    return {"vips": v4 + v6}


class OwnedSync:
    def __init__(self, *, store: Store, client: AviClient, drift: DriftLedger | None = None) -> None:
        self._store = store
        self._writer = ObjectWriter(client=client)
        self._drift = drift
        # Journal rows this process left open (`intent`) per key: the key's next sync settles them.
        self._open: dict[str, list[int]] = {}

    def suspect(self, key: str, found: Mapping[Ident, Suspect]) -> None:
        """The drift check found these objects of `key` changed on the controller: the next apply
        writes them again (whole, or created again when deleted)."""
        if self._drift is not None:
            self._drift.suspect(key, found)

    async def apply(self, *, key: str, objects: Sequence[AviObject]) -> dict[Ident, Applied]:
        """Make the controller hold exactly `objects` for `key`; return what is applied, by ident.

        Three database round trips per key, whatever the number of objects: one read of what is
        applied; one transaction that records the desired set and an intent for every planned write
        (so each intent is durable before its call); one transaction with all outcomes. A crash in
        between leaves intents open, and boot resolves them by reading the controller back.
        """
        desired = sorted(objects, key=lambda o: (o.rank, o.name))
        rows = await self._store.applied_for_key(owner_key=key, idents=[_ident(o) for o in desired])
        current = {_ident(a): a for a in rows}
        previous = {ident: a for ident, a in current.items() if a.owner_key == key}
        wanted = {_ident(o) for o in desired}
        result: dict[Ident, Applied] = {}
        todo: list[tuple[AviObject, Applied | None]] = []
        adopted: list[Applied] = []
        suspects = self._drift.take(key) if self._drift is not None else {}
        repairs: dict[Ident, str] = {}
        for obj in desired:
            have = current.get(_ident(obj))
            found = suspects.get(_ident(obj))
            if found is not None and have is not None and have.applied_at < found.since:
                # Changed on the controller since akod wrote it: written again, whole.
                repairs[_ident(obj)] = found.how
                todo.append((obj, None if found.how == DELETED else have))
                continue
            if have is not None and have.checksum == obj.checksum:
                if have.owner_key != key:
                    have = dataclasses.replace(have, owner_key=key)
                    adopted.append(have)
                result[_ident(obj)] = have
            else:
                todo.append((obj, have))
        stale = sorted((a for ident, a in previous.items() if ident not in wanted), key=removal_order, reverse=True)
        if not todo and not stale and not adopted and key not in self._open:
            stored = await self._store.desired_checksums(owner_key=key)
            if stored == {_ident(o): o.checksum for o in desired}:
                return result  # nothing to write anywhere: the common case after a restart
        ops = [("PUT" if have is not None else "POST", o.obj_type, o.tenant, o.name, o.checksum) for o, have in todo]
        ops += [("DELETE", a.obj_type, a.tenant, a.name, a.checksum) for a in stale]
        entries = await self._store.begin_key(
            owner_key=key,
            objects=[Desired(obj_type=o.obj_type, tenant=o.tenant, name=o.name, owner_key=key,
                             body=o.stored_body(), checksum=o.checksum, role=o.role, subjects=o.subjects)
                     for o in desired],
            ops=ops,
        )
        run = _Run(key=key, entries=entries, writes=dict(zip((_ident(o) for o, _ in todo), entries, strict=False)),
                   repairs=repairs)
        try:
            await self._write(run, todo=todo, result=result)
            if run.failure is None:
                await self._delete(run, stale=stale, entries=entries[len(todo):])
        finally:
            outcomes = run.closing()
            if run.failure is None and not run.cut:
                # The controller now holds exactly the desired set: rows earlier syncs left open are settled.
                outcomes += [(entry, SUPERSEDED, "settled by the key's next sync, which left the controller as desired")
                             for entry in self._open.pop(key, [])]
            open_now = [entry for entry, state, _ in outcomes if state == INTENT]
            if open_now:
                self._open.setdefault(key, []).extend(open_now)
            written = [a for ident, a in result.items() if a.owner_key == key and ident in run.writes]
            await self._finish(outcomes=outcomes, applied=[*written, *adopted], forget=run.forget)
        if run.failure is not None:
            raise run.failure
        return result

    async def _write(self, run: _Run, *, todo: list[tuple[AviObject, Applied | None]],
                     result: dict[Ident, Applied]) -> None:
        for rank in sorted({o.rank for o, _ in todo}):  # a rank's objects do not refer to each other: at once
            group = [(o, have) for o, have in todo if o.rank == rank]
            run.in_flight = [run.writes[_ident(o)] for o, _ in group]
            answers = await asyncio.gather(*(self._writer.send(obj=o, current=have, whole=_ident(o) in run.repairs)
                                             for o, have in group), return_exceptions=True)
            run.in_flight = []
            for (obj, _), answer in zip(group, answers, strict=True):
                entry = run.writes[_ident(obj)]
                if not isinstance(answer, BaseException):
                    result[_ident(obj)] = self._applied(key=run.key, obj=obj, body=answer)
                    run.outcomes.append((entry, DONE, ""))
                    how = run.repairs.get(_ident(obj))
                    if how is not None and self._drift is not None:
                        self._drift.repaired(obj_type=obj.obj_type, name=obj.name, how=how)
                    continue
                state, found = await self._writer.settle(obj=obj, error=answer)
                if state == DONE and found is not None:
                    result[_ident(obj)] = self._applied(key=run.key, obj=obj, body=found)
                    run.outcomes.append((entry, DONE, "resolved by reading back"))
                    continue
                run.outcomes.append((entry, state, f"{type(answer).__name__}: {answer}"))
                if run.failure is None:
                    run.failure = (ObjectRejected(obj=obj, error=answer)
                                   if state == FAILED and isinstance(answer, AviError) else answer)
            if run.failure is not None:
                return

    async def _delete(self, run: _Run, *, stale: list[Applied], entries: Sequence[int]) -> None:
        for applied, entry in zip(stale, entries, strict=True):
            run.in_flight = [entry]
            removal = await self._writer.remove(applied)
            run.in_flight = []
            run.outcomes.append((entry, removal.state, removal.why))
            if removal.state == DONE:
                run.forget.append(_ident(applied))
                continue
            if removal.error is not None:
                run.failure = ObjectRejected.of_delete(applied=applied, error=removal.error)
            elif removal.refused is not None:
                run.failure = removal.refused
            else:
                run.failure = AviUnavailable(status=None, message=removal.why, method="DELETE",
                                             path=f"/api/{applied.obj_type}/{applied.uuid}")
            return

    async def _finish(self, *, outcomes: list[tuple[int, str, str]], applied: list[Applied],
                      forget: list[Ident]) -> None:
        """Record the key's outcomes; on the way out of a failure (or a cancel), never mask it.

        If this write fails too, the rows stay open and the next start resolves them from the
        controller; the exception that is already propagating is the one that matters.
        """
        propagating = sys.exc_info()[1]
        try:
            await self._store.finish_key(outcomes=outcomes, applied=applied, forget=forget)
        except Exception as exc:
            if propagating is None:
                raise
            log.error("could not record the outcomes of a failed key sync (%s); they are resolved at the next "
                      "start", exc)

    def _applied(self, *, key: str, obj: AviObject, body: dict[str, Any]) -> Applied:
        return Applied(obj_type=obj.obj_type, tenant=obj.tenant, name=obj.name, uuid=str(body.get("uuid", "")),
                       checksum=obj.checksum, last_modified=str(body.get("_last_modified", "")), owner_key=key,
                       info=applied_info(obj.obj_type, body), role=obj.role)

    async def delete(self, *, key: str, applied: Applied) -> None:
        """Delete one object outside a key's set (garbage collection), journaled."""
        entry = await self._store.journal_intent(key=key, op="DELETE", obj_type=applied.obj_type,
                                                 tenant=applied.tenant, name=applied.name, checksum=applied.checksum)
        removal = await self._writer.remove(applied)
        if removal.state == DONE:
            await self._store.journal_outcome(entry_id=entry, state=DONE, forget=_ident(applied))
            return
        if removal.error is not None:
            await self._store.journal_outcome(entry_id=entry, state=FAILED, error=removal.why)
            raise ObjectRejected.of_delete(applied=applied, error=removal.error)
        if removal.refused is not None:
            await self._store.journal_outcome(entry_id=entry, state=SUPERSEDED, error=removal.why)
            raise removal.refused
        await self._store.journal_outcome(entry_id=entry, state=SUPERSEDED,
                                          error=f"{removal.why}; tried again by the next collection")
        raise AviUnavailable(status=None, message=removal.why, method="DELETE",
                             path=f"/api/{applied.obj_type}/{applied.uuid}")

    async def resolve_open_rows(self, *, leave: Callable[[str], bool] = lambda key: False) -> int:
        """Close the journal rows a crash (`intent`) or a stop (`unknown`) left open.

        The applied state was just rebuilt from the controller's own copy, so whatever those calls
        did is now known: the next sync of each key compares with it and writes what is missing.
        Rows of keys that `leave` names are left to their family (which reads its object back).
        """
        rows = [r for r in await self._store.journal(states=[INTENT, UNKNOWN], limit=100000) if not leave(r.key)]
        for r in rows:
            found = await self._store.applied(obj_type=r.obj_type, tenant=r.tenant, name=r.name)
            took = (found is None) if r.op == "DELETE" else (found is not None and found.checksum == r.checksum)
            state, why = ((DONE, "it took effect") if took
                          else (SUPERSEDED, "it did not take effect; the next sync writes what is missing"))
            await self._store.journal_outcome(entry_id=r.id, state=state,
                                              error=f"{r.state} at start; read back from the controller: {why}")
        self._open.clear()
        return len(rows)


@dataclasses.dataclass
class _Run:
    """One apply's journal entries and what became of them so far."""

    key: str
    entries: list[int]
    writes: dict[Ident, int]
    outcomes: list[tuple[int, str, str]] = dataclasses.field(default_factory=list)
    forget: list[Ident] = dataclasses.field(default_factory=list)
    in_flight: list[int] = dataclasses.field(default_factory=list)  # entries whose call is being made
    repairs: dict[Ident, str] = dataclasses.field(default_factory=dict)  # drift being repaired: how it drifted
    failure: BaseException | None = None
    cut: bool = False

    def closing(self) -> list[tuple[int, str, str]]:
        """Every entry's outcome: as recorded, `unknown` if cut off in flight, else not attempted."""
        closed = {entry for entry, _, _ in self.outcomes}
        cut = set(self.in_flight) - closed
        self.cut = bool(cut)
        return [*self.outcomes,
                *((entry, UNKNOWN, "cut off in flight (stop or cancel): outcome unknown, resolved at start")
                  for entry in sorted(cut)),
                *((entry, SUPERSEDED, "not attempted: an earlier write of this key failed or was cut off")
                  for entry in self.entries if entry not in closed and entry not in cut)]
