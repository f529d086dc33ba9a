"""The start-up sequence, defined once for every family: nothing the cluster stopped wanting survives it.

After the watches are synced (resumed from their cursors, or relisted) and their batches applied
to the cluster cache, and once the controller is known:

1. the applied state is rebuilt from the controller's own copy (`inventory`), and journal rows a
   crash or a stop left open (`intent`, `unknown`) are resolved by it. Or, at the first lead after
   a start, the stored applied state is used as it is, when it can stand for the controller's
   (`stored_state_trusted`): the last run left no write unfinished (no open journal row: every
   write's outcome was committed, so `avi_applied` is what akod last made the controller hold),
   the database holds applied rows, akod is not one of an HA pair (the other daemon may have
   written since), drift checks are on and `[sync] read_back_at_boot` is false. What can then
   differ is what somebody changed on the controller while akod was down: the drift check that
   runs right after the start finds it (deleted or edited objects) and the keys repair it, as
   they do for a change made while akod runs. Reading 50,000 objects back from a controller
   costs minutes at 10,000 Services (pages of 200, paced); this start costs none of it;
2. every key is marked that **any** source names: the stored state (the owner keys of desired and
   applied rows: a Service deleted while akod was down has no Kubernetes object left, but its
   objects' rows still name its key), the cluster (each family's `wanted_keys`), and the
   controller's inventory (what a family `adopts`, e.g. a shard's shared VIP);
3. once the engine has synced them all, garbage collection (the `gc` key) deletes every applied
   object that no key wants.

Events are never dropped because of the daemon's phase: a watch batch that arrives during the
sequence marks its keys like any other, and the engine runs them once it starts. A stored key no
family owns any more (an older version's) gets an empty desired set, so its objects go at step 3.
`akod` is `in_sync` only after step 3 has run: never while an owned object exists that nothing
wants.
"""

from __future__ import annotations

import asyncio
import logging

from akod.avi import AviClient
from akod.config import Settings
from akod.store import INTENT, UNKNOWN, Store
from akod.sync.engine import Engine
from akod.sync.gc import GC_KEY
from akod.sync.inventory import rebuild_applied
from akod.sync.owned import OwnedSync
from akod.sync.registry import Registry

log = logging.getLogger("akod.sync")
RETRY_S = 2.0


class Reconciler:
    def __init__(self, *, registry: Registry, engine: Engine, store: Store, owned: OwnedSync,
                 client: AviClient) -> None:
        self._registry = registry
        self._engine = engine
        self._store = store
        self._owned = owned
        self._client = client

    async def rebuild(self) -> int:
        """Step 1: read the controller's objects (retrying while it fails), resolve open journal rows."""
        s = self._registry.inputs.settings
        while True:
            try:
                inventory = await rebuild_applied(client=self._client, store=self._store, cluster=s.cluster.name,
                                                  cloud=s.controller.cloud, tenant=s.controller.tenant)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - controller trouble: try again shortly
                log.warning("could not read the controller's objects (%s); retrying", exc)
                await asyncio.sleep(RETRY_S)
        self._registry.applied_rebuilt(inventory=inventory)
        resolved = await self._owned.resolve_open_rows(leave=self._registry.own_journal)
        if resolved:
            log.info("resolved %d journal rows left open by the last run, by reading the controller back", resolved)
        return len(inventory)

    async def stored_state_trusted(self, *, settings: Settings) -> tuple[bool, str]:
        """Whether this start may use the stored applied state instead of reading the controller back, and why."""
        if settings.sync.read_back_at_boot:
            return False, "read back from the controller: [sync] read_back_at_boot = true"
        if settings.ha.enabled:
            return False, "read back from the controller: one of an HA pair (the other daemon may have written)"
        if settings.sync.drift_check_s <= 0:
            return False, "read back from the controller: drift checks are off ([sync] drift_check_s = 0)"
        if await self._store.journal(states=[INTENT, UNKNOWN], limit=1):
            return False, "read back from the controller: the last run left writes unfinished (open journal rows)"
        if not await self._store.owner_keys():
            return False, "read back from the controller: the state database holds nothing applied yet"
        return True, "stored (the last run left no write unfinished); a drift check reads the controller back"

    async def use_stored(self) -> int:
        """Step 1 without the controller: the families learn the applied state as stored."""
        applied = await self._store.all_applied()
        self._registry.applied_rebuilt(inventory=applied)
        return len(applied)

    async def mark_everything(self) -> int:
        """Step 2: every key the stored state, the cluster or the controller's inventory names."""
        stored = await self._store.owner_keys()
        adopted = self._registry.adopted_keys(await self._store.all_applied())
        keys = stored | self._registry.wanted_keys() | adopted
        for key in sorted(keys):
            if key == GC_KEY:
                continue
            if not self._registry.owns(key):
                log.info("no family owns the stored key %s any more: its objects go", key)
                await self._store.replace_desired(owner_key=key, objects=[])
                continue
            await self._engine.mark(key)
        return len(keys)

    async def collect(self) -> None:
        """Step 3, once every marked key has been synced: garbage collection as a key of its own."""
        await self._engine.queue.wait_idle()
        await self._engine.mark(GC_KEY)
        await self._engine.queue.wait_idle()
