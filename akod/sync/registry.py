"""The registry of object families: the one place the daemon, `akod plan` and the status server meet them.

`FAMILIES` is the list; adding a family is one module in `akod.sync.families` plus one line here.
The registry builds the families around one `Inputs` (cluster cache, settings, controller facts)
and routes everything to them:

- the watched resources they read (`resources`, in the order the cache must be loaded: a
  Service's key depends on its Namespace's labels, an Ingress's on its class);
- each watch batch: first into the cluster cache, then to every family, which answers with the
  keys it may change (`on_change`);
- a key to the family that owns its kind (`family_of`), for the engine and for `/objects`;
- the keys of the start-up sequence: what the cluster names, and what the controller holds that
  a family keeps (`adopted_keys`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from akod.avi import AviError

from akod.model.observed import Observed
from akod.store import Applied
from akod.sync.cluster import Change
from akod.sync.contexts import Contexts
from akod.sync.families.hostrule import HostRuleFamily
from akod.sync.families.httprule import HTTPRuleFamily
from akod.sync.families.l4rule import L4RuleFamily
from akod.sync.families.infrasetting import InfraSettingFamily
from akod.sync.families.l4 import L4Family
from akod.sync.families.l7 import L7Family
from akod.sync.families.npl import NplFamily
from akod.sync.families.routes import RoutesFamily
from akod.sync.family import DONE, Family, Inputs, Outcome, SyncIO, hold, requeue
from akod.sync.gc import GC_KEY, collect_garbage

log = logging.getLogger("akod.sync")

FAMILIES: tuple[type[Family], ...] = (
    RoutesFamily,
    L4Family,
    L7Family,
    NplFamily,
    HostRuleFamily,
    HTTPRuleFamily,
    L4RuleFamily,
    InfraSettingFamily,
)
# The order a cache is filled in (a stored copy at start, a fresh list in `akod plan`): what other
# objects' keys depend on comes first.
LOAD_ORDER = ("namespaces", "nodes", "ingressclasses", "aviinfrasettings", "secrets", "services", "endpoints", "pods", "ingresses")


def key_kind(key: str) -> str:
    return key.split(":", 1)[0]


def watched_resources(families: Iterable[type[Family] | Family] = FAMILIES) -> list[str]:
    """Every watched resource some family reads, in load order (unknown ones last)."""
    wanted = {r for f in families for r in f.resources}
    return [r for r in LOAD_ORDER if r in wanted] + sorted(wanted - set(LOAD_ORDER))


class Registry:
    def __init__(self, *, inputs: Inputs, io: SyncIO | None, families: Sequence[type[Family]] = FAMILIES) -> None:
        self.inputs = inputs
        self.io = io
        self.contexts = Contexts()
        self.families: list[Family] = [cls(inputs=inputs, contexts=self.contexts, io=io) for cls in families]
        self._by_kind = {kind: f for f in self.families for kind in f.key_kinds}
        clash = len(self._by_kind) != sum(len(f.key_kinds) for f in self.families)
        assert not clash, "two families claim one key kind"

    def family(self, name: str) -> Family:
        return next(f for f in self.families if f.name == name)

    def family_of(self, key: str) -> Family | None:
        return self._by_kind.get(key_kind(key))

    def resources(self) -> list[str]:
        """Every watched resource some family reads, in load order (unknown ones last).

        A family instance may read more than its class says: the routes read the records of the
        configured CNI, Pods are read only in NodePortLocal mode."""
        return watched_resources(self.families)

    def optional_resources(self) -> frozenset[str]:
        """The watched resources a family does without when the server does not serve them."""
        return frozenset(r for f in self.families for r in getattr(f, "optional_resources", ()))

    async def on_change(self, change: Change) -> set[str]:
        """Take one watch batch into the cluster cache; the keys it may change, from every family."""
        change = self.inputs.cluster.apply(change)
        keys: set[str] = set()
        for family in self.families:
            keys |= await family.on_change(change)
        return keys

    async def load(self, *, resource: str, kind: str, objects: Sequence[Observed]) -> set[str]:
        return await self.on_change(Change(resource=resource, kind=kind, upserts=list(objects), deleted=[]))

    def keys_reading(self, resource: str) -> set[str]:
        """The wanted keys of every family that reads `resource` (marked when it starts being served)."""
        return {key for f in self.families if resource in f.resources for key in f.wanted_keys()}

    def wanted_keys(self) -> set[str]:
        return {key for f in self.families for key in f.wanted_keys()}

    def adopted_keys(self, applied: Iterable[Applied]) -> set[str]:
        found: set[str] = set()
        for a in applied:
            for family in self.families:
                key = family.adopts(a)
                if key is not None:
                    found.add(key)
        return found

    def owns(self, key: str) -> bool:
        return self.family_of(key) is not None or key == GC_KEY

    def own_journal(self, key: str) -> bool:
        """Does the family of `key` settle its own open journal rows?"""
        family = self.family_of(key)
        return family is not None and family.own_journal

    async def restore(self) -> None:
        """What the families keep in the state database besides objects (the CRs' accepted effects),
        loaded before the first translation."""
        if self.io is not None:
            await self.inputs.crs.restore(self.io.store)

    def summary(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for family in self.families:
            found.update(family.summary())
        return found

    def applied_rebuilt(self, *, inventory: Sequence[Applied]) -> None:
        for family in self.families:
            family.applied_rebuilt(inventory=inventory)

    def reassign(self) -> set[str]:
        """After a reload: every key whose membership or translation may have changed."""
        return {key for f in self.families for key in f.reassign()}

    async def sync(self, key: str) -> Outcome:
        """The engine's handler: the family that owns `key` makes it true (`gc`: garbage collection)."""
        if key == GC_KEY:
            return await self._collect_garbage()
        family = self.family_of(key)
        if family is None:
            log.error("no family owns the key %s; nothing to do for it", key)
            return hold(f"no family owns the key {key}")
        return await family.sync(key)

    async def _collect_garbage(self) -> Outcome:
        io = self.io
        if io is None:
            return DONE
        try:
            await collect_garbage(store=io.store, owned=io.owned)
        except AviError as exc:
            return requeue(reason=f"garbage collection: {exc}")
        return DONE
