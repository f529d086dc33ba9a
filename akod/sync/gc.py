"""Garbage collection: deleting objects of this cluster that no key wants any more.

Objects a key stops wanting are deleted by that key's own sync. What is left are objects whose key
vanished while akod was down, or that a crash left behind between a create and its record: after
boot rebuilds the applied state from the controller and every key has been synced once, any
applied object without a desired row is garbage. Deletes go parents first (virtual services
before the pools and VIPs they refer to).
"""

from __future__ import annotations

import logging

from akod.store import Store
from akod.sync.owned import OwnedSync, removal_order

log = logging.getLogger("akod.sync")
GC_KEY = "gc"


async def collect_garbage(*, store: Store, owned: OwnedSync) -> int:
    """Delete every applied object no key wants (parents first); how many there were."""
    stale = await store.unowned_applied(exclude_types=["vrfcontext"])
    for applied in sorted(stale, key=removal_order, reverse=True):
        log.info("deleting %s %s: no Kubernetes object wants it any more", applied.obj_type, applied.name)
        await owned.delete(key=GC_KEY, applied=applied)
    return len(stale)
