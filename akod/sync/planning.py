"""`akod plan`: the daemon's own pipeline, run once against fresh lists, writing nothing.

A dry run that disagrees with the daemon is worse than none, so the plan has no translation of
its own: it fills a cluster cache from one list of each resource the families read (the same
resources, the same discovery, the same trimming), builds the same `Registry`, asks it for the
same keys (what the cluster names, and what the controller's inventory holds that a family
keeps), and translates each key through its family, exactly as the daemon's sync does. Only the
last step differs: instead of applying, each family says what it would change (`Family.plan`),
and whatever the controller holds that no key wants would be deleted. The problems it prints are
the translations' problems, which are the ones the daemon reports.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import ApiClient

from akod.avi import AviClient
from akod.config import Settings
from akod.kube.resources import resolve
from akod.kube.watching import list_all
from akod.model.problems import Problem
from akod.store import Applied, CrEffect
from akod.sync.cluster import ClusterCache
from akod.sync.discovery import ControllerContext, discover
from akod.sync.family import Inputs, PlannedChange
from akod.sync.inventory import controller_inventory
from akod.sync.owned import removal_order
from akod.sync.crs import avi_exists, avi_read
from akod.sync.registry import Registry

log = logging.getLogger("akod.sync")


@dataclass
class Plan:
    context: ControllerContext
    changes: list[PlannedChange] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "vrf": self.context.vrf,
            "changes": len(self.changes),
            "objects": [{"action": c.action, "type": c.obj_type, "name": c.name, "for": c.owner}
                        for c in self.changes],
            "errors": [{"kind": p.obj.kind, "namespace": p.obj.namespace, "name": p.obj.name, "field": p.field,
                        "reason": p.reason, "message": p.message} for p in self.problems],
            "missing_apis": dict(self.missing),
        }


async def make_plan(*, settings: Settings, client: AviClient, kube_api: ApiClient,
                    stored: list[Applied] | None = None, recorded_vsvips: Collection[str] = (),
                    cr_effects: Collection[CrEffect] = ()) -> Plan:
    """What the daemon would change now. `stored`: the state database's applied rows, if there is one
    (read-only): they say which objects a key with broken input keeps; `recorded_vsvips`: the VsVips
    it recorded making (the only ones, with those akod's VSes use, that are akod's); `cr_effects`: the
    custom resources' last accepted effects it keeps (a CR edited into something invalid keeps its)."""
    owners: dict[str, set[tuple[str, str]]] = {}
    for row in stored or ():
        owners.setdefault(row.owner_key, set()).add((row.obj_type, row.name))
    ctx = await discover(client=client, settings=settings, label_se_group=False)
    inventory = await controller_inventory(client=client, cluster=settings.cluster.name,
                                           cloud=settings.controller.cloud, tenant=settings.controller.tenant,
                                           recorded_vsvips=recorded_vsvips)
    by_ident = {(a.obj_type, a.tenant, a.name): a for a in inventory}

    async def applied(obj_type: str, tenant: str, name: str) -> Applied | None:
        return by_ident.get((obj_type, tenant, name))

    inputs = Inputs(cluster=ClusterCache(), settings=settings, applied=applied, controller=ctx,
                    controller_version=client.controller_version or "", api_version=client.api_version or "",
                    avi_exists=avi_exists(client), avi_read=avi_read(client))
    for effect in cr_effects:  # what the daemon keeps of a CR that became invalid
        inputs.crs.put(effect)
    registry = Registry(inputs=inputs, io=None)
    resolution = await resolve(kube_api, registry.resources(), optional=registry.optional_resources())
    inputs.unserved = resolution.unserved
    for spec in resolution.specs:  # in the registry's load order, as the daemon loads its cache
        objects, _ = await list_all(spec)
        await registry.load(resource=spec.resource, kind=spec.kind, objects=objects)
    keys = registry.wanted_keys() | registry.adopted_keys(inventory)
    plan = Plan(context=ctx, missing=dict(resolution.missing))
    have = {(a.obj_type, a.name): a for a in inventory}
    wanted: set[tuple[str, str]] = set()
    # The CR families first (`judges_crs`): the keys translated after them apply what they accept.
    for key in sorted(keys, key=lambda k: (not getattr(registry.family_of(k), "judges_crs", False), k)):
        family = registry.family_of(key)
        if family is None:
            continue
        translation = await family.translate(key)
        plan.problems += [p for p in translation.problems if p not in plan.problems]
        wanted |= {(o.obj_type, o.name) for o in translation.objects}
        if not translation.hold:
            plan.changes += await family.plan(translation, have=have, client=client)
        else:  # the daemon keeps what is applied while the input is broken
            wanted |= owners.get(key, set())
    for gone in sorted((a for a in inventory if (a.obj_type, a.name) not in wanted), key=removal_order, reverse=True):
        plan.changes.append(PlannedChange(action="delete", obj_type=gone.obj_type, name=gone.name,
                                          owner="no Kubernetes object"))
    return plan
