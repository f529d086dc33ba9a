"""Writing the Avi objects a key owns: ordered, journaled, idempotent, and safe to crash in.

For one key (one L4 Service, one L7 shard...) the model gives the whole desired set. This module
makes the controller match it:

- objects are written in dependency order (children first) and stale ones deleted in reverse;
- an object whose desired checksum equals the one last applied is not written at all;
- each write has a journal row: `intent` before the call, its outcome after;
- a create that meets 409 (the name exists) adopts the existing object: compare, update if needed;
- a write with an unknown outcome (connection lost, 5xx after retries, a crash) is resolved by
  reading the object back by name: names are deterministic, so nothing is ever created twice;
- a PUT that meets 404 (deleted behind our back) becomes a create.

Errors the controller gives for the object itself (400, 403) stop the key and are raised as
`ObjectRejected`, which the caller turns into an object error for the Kubernetes object; anything
else propagates and the engine retries the key with backoff.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import sys
import logging
from collections.abc import Callable, Sequence
from typing import Any

from akod.avi import AviBadRequest, AviClient, AviConflict, AviError, AviNotFound, AviUnavailable
from akod.model.objects import AviObject, for_api_version, rank_of, stored_checksum
from akod.store import DONE, FAILED, INTENT, SUPERSEDED, UNKNOWN, Applied, Desired, Store
from akod.sync import rulesets

log = logging.getLogger("akod.sync")
Ident = tuple[str, str, str]


class ObjectRejected(Exception):
    """The controller refused an object (400/403): retrying the same body cannot succeed."""

    def __init__(self, *, obj: AviObject, error: AviError) -> None:
        super().__init__(f"{obj.obj_type} {obj.name}: {error.message}")
        self.obj = obj
        self.error = error


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
    def __init__(self, *, store: Store, client: AviClient) -> None:
        self._store = store
        self._client = client

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
        for obj in desired:
            have = current.get(_ident(obj))
            if have is not None and have.checksum == obj.checksum:
                if have.owner_key != key:
                    have = dataclasses.replace(have, owner_key=key)
                    adopted.append(have)
                result[_ident(obj)] = have
            else:
                todo.append((obj, have))
        stale = sorted((a for ident, a in previous.items() if ident not in wanted), key=removal_order, reverse=True)
        if not todo and not stale and not adopted:
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
        write_entries = dict(zip((_ident(o) for o, _ in todo), entries, strict=False))
        delete_entries = entries[len(todo):]
        outcomes: list[tuple[int, str, str]] = []
        forget: list[Ident] = []
        failure: BaseException | None = None
        in_flight: list[int] = []  # entries whose call is being made: cut off, their outcome is unknown
        try:
            ranks = sorted({o.rank for o, _ in todo})
            for rank in ranks:  # a rank's objects do not refer to each other: write them at once
                group = [(o, have) for o, have in todo if o.rank == rank]
                in_flight = [write_entries[_ident(o)] for o, _ in group]
                answers = await asyncio.gather(*(self._send(obj=o, current=have) for o, have in group),
                                               return_exceptions=True)
                in_flight = []
                for (obj, _), answer in zip(group, answers, strict=True):
                    entry = write_entries[_ident(obj)]
                    if isinstance(answer, BaseException):
                        state, found = await self._settle(obj=obj, error=answer)
                        if state == DONE:
                            result[_ident(obj)] = self._applied(key=key, obj=obj, body=found)
                            outcomes.append((entry, DONE, "resolved by reading back"))
                            continue
                        outcomes.append((entry, state, f"{type(answer).__name__}: {answer}"))
                        if failure is None:
                            failure = (ObjectRejected(obj=obj, error=answer)
                                       if state == FAILED and isinstance(answer, AviError) else answer)
                    else:
                        result[_ident(obj)] = self._applied(key=key, obj=obj, body=answer)
                        outcomes.append((entry, DONE, ""))
                if failure is not None:
                    break
            if failure is None:
                for applied, entry in zip(stale, delete_entries, strict=True):
                    in_flight = [entry]
                    error = await self._remove(applied)
                    in_flight = []
                    if error is not None:
                        outcomes.append((entry, INTENT, error))
                        failure = AviUnavailable(status=None, message=error, method="DELETE",
                                                 path=f"/api/{applied.obj_type}/{applied.uuid}")
                        break
                    outcomes.append((entry, DONE, ""))
                    forget.append(_ident(applied))
        finally:
            closed = {entry for entry, _, _ in outcomes}
            cut = set(in_flight) - closed
            outcomes += [(entry, UNKNOWN, "cut off in flight (stop or cancel): outcome unknown, resolved at start")
                         for entry in sorted(cut)]
            outcomes += [(entry, SUPERSEDED, "not attempted: an earlier write of this key failed or was cut off")
                         for entry in entries if entry not in closed and entry not in cut]
            written = [a for ident, a in result.items() if a.owner_key == key and ident in write_entries]
            await self._finish(outcomes=outcomes, applied=[*written, *adopted], forget=forget)
        if failure is not None:
            raise failure
        return result

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

    async def _remove(self, applied: Applied) -> str | None:
        """DELETE one object; None when it is gone, else why the outcome is not known."""
        try:
            await self._client.delete(applied.obj_type, applied.uuid, tenant=applied.tenant)
        except AviNotFound:
            log.debug("%s %s was already gone", applied.obj_type, applied.name)
            return None
        except AviUnavailable as exc:
            try:
                if await self._read_back(applied) is None:
                    return None
            except AviError:
                pass
            return str(exc)
        log.debug("deleted %s %s", applied.obj_type, applied.name)
        return None

    async def _send(self, *, obj: AviObject, current: Applied | None) -> dict[str, Any]:
        payload = obj.payload()
        version = _version_tuple(self._client.api_version)
        if version:
            payload = for_api_version(payload, version)
        if rulesets.incremental(obj):
            if current is not None:
                patch = rulesets.plan_patch(obj=obj, info=current.info)
                if patch is not None:
                    try:
                        return await self._client.patch(obj.obj_type, current.uuid, patch.body, tenant=obj.tenant)
                    except AviNotFound:
                        log.info("%s %s vanished from the controller; creating it again", obj.obj_type, obj.name)
                        current = None
                    except AviBadRequest as exc:  # our idea of its rules was stale: rewrite it whole
                        log.warning("PATCH of %s %s refused (%s); writing it whole", obj.obj_type, obj.name,
                                    exc.message)
            payload = rulesets.full_payload(obj, payload)
        if current is not None:
            try:
                return await self._client.put(obj.obj_type, current.uuid, payload, tenant=obj.tenant)
            except AviNotFound:
                log.info("%s %s vanished from the controller; creating it again", obj.obj_type, obj.name)
        return await self._create(obj=obj, payload=payload)

    async def _settle(self, *, obj: AviObject, error: BaseException) -> tuple[str, Any]:
        """The journal state for a failed write; ("done", body) when reading back shows it happened."""
        if isinstance(error, AviUnavailable):
            try:
                found = await self._read_back(obj)
            except AviError:
                found = None
            if found is not None and _cksum_of(found, obj.obj_type) == obj.checksum:
                return DONE, found
            return INTENT, None  # outcome still unknown: the row stays open, resolved by the retry
        if isinstance(error, AviError) and error.status in (400, 403, 422):
            return FAILED, None
        return INTENT, None

    async def _create(self, *, obj: AviObject, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self._client.post(obj.obj_type, payload, tenant=obj.tenant)
        except AviConflict:
            found = await self._read_back(obj)
            if found is None:
                raise
            log.info("%s %s already exists on the controller; adopting it", obj.obj_type, obj.name)
            if _cksum_of(found, obj.obj_type) == obj.checksum:
                return found
            return await self._client.put(obj.obj_type, str(found["uuid"]), payload, tenant=obj.tenant)

    async def _read_back(self, obj: AviObject | Applied) -> dict[str, Any] | None:
        return await self._client.get_by_name(obj.obj_type, obj.name, tenant=obj.tenant)

    def _applied(self, *, key: str, obj: AviObject, body: dict[str, Any]) -> Applied:
        return Applied(obj_type=obj.obj_type, tenant=obj.tenant, name=obj.name, uuid=str(body.get("uuid", "")),
                       checksum=obj.checksum, last_modified=str(body.get("_last_modified", "")), owner_key=key,
                       info=applied_info(obj.obj_type, body), role=obj.role)

    async def delete(self, *, key: str, applied: Applied) -> None:
        """Delete one object outside a key's set (garbage collection), journaled."""
        entry = await self._store.journal_intent(key=key, op="DELETE", obj_type=applied.obj_type,
                                                 tenant=applied.tenant, name=applied.name, checksum=applied.checksum)
        error = await self._remove(applied)
        if error is not None:
            await self._store.journal_attempt(entry_id=entry, error=error)
            raise AviUnavailable(status=None, message=error, method="DELETE",
                                 path=f"/api/{applied.obj_type}/{applied.uuid}")
        await self._store.journal_outcome(entry_id=entry, state=DONE, forget=_ident(applied))

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
        return len(rows)


def _cksum_of(body: dict[str, Any], obj_type: str) -> str:
    return stored_checksum(obj_type, body)


@functools.lru_cache(maxsize=16)
def _version_tuple(version: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in (version or "").split(".")[:3])
    except ValueError:
        return ()

