"""One owned object's write to the controller, and what its outcome means for the journal.

`OwnedSync` orders a key's writes and journals them; this module makes each one and says how it
ended, so that the journal tells the truth about every call:

- a create that meets 409 (the name exists) adopts the existing object: compare, update if needed;
- a PUT that meets 404 (deleted behind our back) becomes a create; a shard policy set is PATCHed
  with its changed hosts only, and written whole when the PATCH is refused or its copy is suspect;
- a write whose outcome is unknown (connection lost, 5xx after retries) is settled by reading the
  object back by name: names are deterministic, so nothing is ever created twice;
- a DELETE that finds the object gone is done; one the controller refuses (400, 403: "referred
  by", say) is failed, never mistaken for a call cut off in flight.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from akod.avi import AviBadRequest, AviClient, AviConflict, AviError, AviNotFound, AviUnavailable, AviWriteRefused
from akod.model.objects import AviObject, for_api_version, stored_checksum
from akod.store import DONE, FAILED, INTENT, SUPERSEDED, Applied
from akod.sync import rulesets

log = logging.getLogger("akod.sync")
REFUSALS = (400, 403, 422)  # the controller's answer about the object itself: retrying cannot help


@dataclass(frozen=True, slots=True)
class Removal:
    """How a DELETE ended: `done` (gone), `failed` (refused: `error`), `superseded` (not sent: this
    daemon may not write now), or `intent` (not known: `why`)."""

    state: str
    why: str = ""
    error: AviError | None = None  # the controller refused the delete (400, 403, 422)
    refused: AviWriteRefused | None = None  # never sent: this daemon may not write now


class ObjectWriter:
    def __init__(self, *, client: AviClient) -> None:
        self._client = client

    async def send(self, *, obj: AviObject, current: Applied | None, whole: bool = False) -> dict[str, Any]:
        """Write `obj` (PUT over `current`, else POST); `whole`: never PATCH (the copy is suspect)."""
        payload = obj.payload()
        version = _version_tuple(self._client.api_version)
        if version:
            payload = for_api_version(payload, version)
        if rulesets.incremental(obj):
            if current is not None and not whole:
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

    async def settle(self, *, obj: AviObject, error: BaseException) -> tuple[str, dict[str, Any] | None]:
        """The journal state for a failed write; (done, body) when reading back shows it happened."""
        if isinstance(error, AviWriteRefused):
            return SUPERSEDED, None  # never sent: this daemon may not write now
        if isinstance(error, AviUnavailable):
            try:
                found = await self.read_back(obj)
            except AviError:
                found = None
            if found is not None and stored_checksum(obj.obj_type, found) == obj.checksum:
                return DONE, found
            return INTENT, None  # outcome still unknown: settled by the key's next successful sync
        if isinstance(error, AviError) and error.status in REFUSALS:
            return FAILED, None
        return INTENT, None

    async def remove(self, applied: Applied) -> Removal:
        try:
            await self._client.delete(applied.obj_type, applied.uuid, tenant=applied.tenant)
        except AviNotFound:
            log.debug("%s %s was already gone", applied.obj_type, applied.name)
            return Removal(DONE)
        except AviWriteRefused as exc:
            return Removal(SUPERSEDED, why=f"not sent: {exc}", error=None, refused=exc)
        except AviUnavailable as exc:
            try:
                if await self.read_back(applied) is None:
                    return Removal(DONE)
            except AviError:
                pass
            return Removal(INTENT, why=str(exc))
        except AviError as exc:
            if exc.status in REFUSALS:
                return Removal(FAILED, why=str(exc), error=exc)
            return Removal(INTENT, why=str(exc))
        log.debug("deleted %s %s", applied.obj_type, applied.name)
        return Removal(DONE)

    async def read_back(self, obj: AviObject | Applied) -> dict[str, Any] | None:
        return await self._client.get_by_name(obj.obj_type, obj.name, tenant=obj.tenant)

    async def _create(self, *, obj: AviObject, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self._client.post(obj.obj_type, payload, tenant=obj.tenant)
        except AviConflict:
            found = await self.read_back(obj)
            if found is None:
                raise
            log.info("%s %s already exists on the controller; adopting it", obj.obj_type, obj.name)
            if stored_checksum(obj.obj_type, found) == obj.checksum:
                return found
            return await self._client.put(obj.obj_type, str(found["uuid"]), payload, tenant=obj.tenant)


@functools.lru_cache(maxsize=16)
def _version_tuple(version: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in (version or "").split(".")[:3])
    except ValueError:
        return ()
