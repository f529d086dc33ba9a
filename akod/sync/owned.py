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
import logging
from collections.abc import Sequence
from typing import Any

from akod.avi import AviClient, AviConflict, AviError, AviNotFound, AviUnavailable
from akod.model.objects import RANK, AviObject, for_api_version, stored_checksum
from akod.store import DONE, FAILED, INTENT, SUPERSEDED, Applied, Desired, Store

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


def applied_info(obj_type: str, body: dict[str, Any]) -> dict[str, Any]:
    """What to remember of the controller's answer: the addresses IPAM gave a VsVip."""
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
        """Make the controller hold exactly `objects` for `key`; return what is applied, by ident."""
        desired = sorted(objects, key=lambda o: (o.rank, o.name))
        await self._store.replace_desired(
            owner_key=key,
            objects=[Desired(obj_type=o.obj_type, tenant=o.tenant, name=o.name, owner_key=key,
                             body=o.payload(), checksum=o.checksum) for o in desired],
        )
        previous = {_ident(a): a for a in await self._store.applied_by_owner(owner_key=key)}
        elsewhere = await self._store.applied_many(idents=[_ident(o) for o in desired if _ident(o) not in previous])
        current = {**elsewhere, **previous}
        result: dict[Ident, Applied] = {}
        todo: dict[int, list[tuple[AviObject, Applied | None]]] = {}
        adopted: list[Applied] = []
        for obj in desired:
            have = current.get(_ident(obj))
            if have is not None and have.checksum == obj.checksum:
                if have.owner_key != key:
                    have = Applied(**{**_fields(have), "owner_key": key})
                    adopted.append(have)
                result[_ident(obj)] = have
            else:
                todo.setdefault(obj.rank, []).append((obj, have))
        for applied in adopted:
            await self._store.record_applied(applied)
        for rank in sorted(todo):  # a rank's objects do not refer to each other: write them at once
            result.update(await self._write_group(key=key, group=todo[rank]))
        wanted = {_ident(o) for o in desired}
        stale = [a for ident, a in previous.items() if ident not in wanted]
        for applied in sorted(stale, key=lambda a: (RANK.get(a.obj_type, 8), a.name), reverse=True):
            await self.delete(key=key, applied=applied)
        return result

    async def _write_group(self, *, key: str, group: list[tuple[AviObject, Applied | None]]) -> dict[Ident, Applied]:
        """Write objects of one rank concurrently: intents in one transaction, outcomes in another."""
        entries = await self._store.journal_intents(key=key, ops=[
            ("PUT" if have is not None else "POST", obj.obj_type, obj.tenant, obj.name, obj.checksum)
            for obj, have in group])
        answers = await asyncio.gather(*(self._send(obj=obj, current=have) for obj, have in group),
                                       return_exceptions=True)
        outcomes: list[tuple[int, str, str, Applied | None]] = []
        done: dict[Ident, Applied] = {}
        failure: BaseException | None = None
        for (obj, _), entry, answer in zip(group, entries, answers, strict=True):
            if isinstance(answer, BaseException):
                state, error = await self._settle(obj=obj, error=answer)
                if state == DONE and isinstance(error, dict):
                    applied = self._applied(key=key, obj=obj, body=error)
                    outcomes.append((entry, DONE, "resolved by reading back", applied))
                    done[_ident(obj)] = applied
                    continue
                outcomes.append((entry, state, str(answer)[:2000], None))
                failure = failure or (ObjectRejected(obj=obj, error=answer)
                                      if state == FAILED and isinstance(answer, AviError) else answer)
                continue
            applied = self._applied(key=key, obj=obj, body=answer)
            outcomes.append((entry, DONE, "", applied))
            done[_ident(obj)] = applied
        await self._store.journal_outcomes(outcomes=outcomes)
        if failure is not None:
            raise failure
        return done

    async def _send(self, *, obj: AviObject, current: Applied | None) -> dict[str, Any]:
        payload = obj.payload()
        version = _version_tuple(self._client.api_version)
        if version:
            payload = for_api_version(payload, version)
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
                       info=applied_info(obj.obj_type, body))

    async def delete(self, *, key: str, applied: Applied) -> None:
        entry = await self._store.journal_intent(key=key, op="DELETE", obj_type=applied.obj_type,
                                                 tenant=applied.tenant, name=applied.name, checksum=applied.checksum)
        try:
            await self._client.delete(applied.obj_type, applied.uuid, tenant=applied.tenant)
        except AviError as exc:
            if isinstance(exc, AviUnavailable):
                found = await self._read_back(applied)
                if found is None:
                    await self._store.journal_outcome(entry_id=entry, state=DONE, error="resolved by reading back",
                                                      forget=_ident(applied))
                    return
            await self._store.journal_attempt(entry_id=entry, error=str(exc))
            raise
        await self._store.journal_outcome(entry_id=entry, state=DONE, forget=_ident(applied))
        log.debug("deleted %s %s", applied.obj_type, applied.name)

    async def resolve_open_rows(self) -> int:
        """Close journal rows left open by a crash; the applied state was just rebuilt from the controller."""
        rows = [r for r in await self._store.journal(states=["intent"], limit=100000) if r.key != "vrf"]
        for r in rows:
            await self._store.journal_outcome(entry_id=r.id, state=SUPERSEDED,
                                              error="open at start; resolved by reading the controller back")
        return len(rows)


def _cksum_of(body: dict[str, Any], obj_type: str) -> str:
    return stored_checksum(obj_type, body)


def _version_tuple(version: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in (version or "").split(".")[:3])
    except ValueError:
        return ()


def _fields(applied: Applied) -> dict[str, Any]:
    return {"obj_type": applied.obj_type, "tenant": applied.tenant, "name": applied.name, "uuid": applied.uuid,
            "checksum": applied.checksum, "last_modified": applied.last_modified, "applied_at": applied.applied_at,
            "owner_key": applied.owner_key, "info": applied.info}
