"""Drift repair: objects edited or deleted on the controller (in the Avi UI, by a script) are put back.

AKO never repairs an out-of-band change except on restart, and a checksum field does not show an
edit (the user changes a pool's servers; `cloud_config_cksum` still matches). What does show it is
`_last_modified`: akod records the value the controller answered with each write (and each
rebuild), and any later change moves it.

Every `[sync] drift_check_s` seconds the leader (and only it) lists its objects cheaply (the inventory: paged,
`fields=` name, uuid, `_last_modified`, checksum), paced by the same token bucket as every call,
and compares them with the applied rows:

- an applied object missing on the controller was deleted; one whose `_last_modified` moved was
  edited; the VRF's `_last_modified` moving means the static routes must be read again;
- the check itself writes nothing and does not touch the applied state (so it cannot race the
  workers): it records a *suspicion* for the object's key and marks the key. The key's own sync,
  serialised with every other write of that key, consumes the suspicion: an object whose applied
  row is older than the check is written again whole (created again if it was deleted), and the
  repair is logged, counted (`akod_drift_repairs_total{type}`) and shown in `/status` `drift`;
- an applied row written after the listing began is not suspected (a worker just wrote it).

Only what akod recorded applying is compared, so objects akod did not create (VsVips included,
whatever their name: see `inventory`) are never written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from akod.avi import AviClient
from akod.store import Store, now_iso
from akod.sync.discovery import ADMIN
from akod.sync.engine import Engine
from akod.sync.inventory import controller_inventory
from akod.sync.registry import Registry
from akod.sync.suspects import DELETED, EDITED, DriftLedger, Ident, Suspect

log = logging.getLogger("akod.sync")


class DriftCheck:
    def __init__(self, *, registry: Registry, engine: Engine, store: Store, client: AviClient,
                 ledger: DriftLedger, interval_s: Callable[[], float], active: Callable[[], bool]) -> None:
        self._registry = registry
        self._active = active  # only the leader checks (a standby's applied state is not current)
        self._engine = engine
        self._store = store
        self._client = client
        self.ledger = ledger
        self._interval_s = interval_s
        self._soon = asyncio.Event()

    def soon(self) -> None:
        """Check now rather than at the end of the interval (the start used the stored applied state)."""
        self._soon.set()

    async def run(self) -> None:
        """Check every `[sync] drift_check_s` seconds (0: wait, checking the setting again after a reload)."""
        while True:
            interval = self._interval_s()
            try:
                await asyncio.wait_for(self._soon.wait(), timeout=interval if interval > 0 else 5.0)
            except TimeoutError:
                pass
            asked = self._soon.is_set()
            self._soon.clear()
            if (asked or self._interval_s() > 0) and self._active():
                await self.check_once()

    async def check_once(self) -> int:
        """One comparison of the controller's copy with the applied rows; the number of suspects."""
        started, began = now_iso(), time.monotonic()
        s = self._registry.inputs.settings
        seen = {(a.obj_type, a.tenant, a.name): a for a in await controller_inventory(
            client=self._client, cluster=s.cluster.name, cloud=s.controller.cloud, tenant=s.controller.tenant,
            recorded_vsvips=await self._store.recorded_names(obj_type="vsvip"))}
        controller = self._registry.inputs.controller
        vrf_modified = ""
        if controller is not None:
            vrf = await self._client.get(f"/api/vrfcontext/{controller.vrf_uuid}", tenant=ADMIN)
            vrf_modified = str(vrf.get("_last_modified", ""))
        found: dict[str, dict[Ident, Suspect]] = {}
        for applied in await self._store.all_applied():
            if not applied.owner_key or applied.applied_at >= started:
                continue  # nobody's (garbage collection's), or written while the listing ran
            ident = (applied.obj_type, applied.tenant, applied.name)
            if applied.obj_type == "vrfcontext":
                how = EDITED if vrf_modified and vrf_modified != applied.last_modified else ""
            elif ident not in seen:
                how = DELETED
            elif seen[ident].last_modified != applied.last_modified:
                how = EDITED
            else:
                how = ""
            if how:
                found.setdefault(applied.owner_key, {})[ident] = Suspect(how=how, since=started)
        for key, suspects in sorted(found.items()):
            family = self._registry.family_of(key)
            if family is None:
                continue
            family.drifted(key, suspects)
            await self._engine.mark(key)
        ledger = self.ledger
        ledger.checks += 1
        ledger.last_check_at, ledger.last_check_s = started, time.monotonic() - began
        ledger.last_found = sum(len(v) for v in found.values())
        if ledger.last_found:
            log.info("drift check: %d objects of %d keys changed on the controller; repairing", ledger.last_found,
                     len(found))
        return ledger.last_found

