"""`akod cleanup`: delete every Avi object this cluster's akod made, its routes and its SE group label.

Kubernetes is cleaned first (`cleanup_kube`): the VIPs akod wrote into statuses and the
NodePortLocal opt-ins it added, found while the virtual services that prove them akod's exist.

AKO's deleteConfig. The controller's own copy says what is ours (`inventory`: `created_by` and the
cluster's names), so cleanup works without the state database. Objects go parents first (an SNI
child before its shard VS, a VS before its pools and VIP); then this cluster's routes leave the
VRF by read-modify-write (other clusters' and hand-made routes stay), and the SE group loses the
`clustername` label. Run it with the daemon stopped, or the daemon puts everything back.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import ApiClient

from akod.avi import AviClient, AviNotFound, AviPreconditionFailed
from akod.config import Settings
from akod.model.routes import CLUSTER_LABEL, is_ours
from akod.sync.cleanup_kube import KubeCleanup, cleanup_kubernetes
from akod.sync.discovery import ADMIN, ControllerContext, discover, se_group_owner
from akod.sync.inventory import controller_inventory
from akod.sync.owned import removal_order

log = logging.getLogger("akod.sync")


@dataclass
class CleanupResult:
    vrf: str
    routes: list[dict[str, Any]]
    se_group_label: bool
    done: bool
    objects: list[tuple[str, str]] = field(default_factory=list)
    kube: KubeCleanup | None = None  # None: Kubernetes was not cleaned (no cluster given)
    other_se_groups: list[str] = field(default_factory=list)  # AviInfraSettings' SE groups that lose the label


async def cleanup(*, settings: Settings, client: AviClient, apply: bool,
                  recorded_vsvips: Collection[str] = (), kube_api: ApiClient | None = None) -> CleanupResult:
    """Delete every object of this cluster (parents first), then its routes and SE group label.

    `recorded_vsvips`: the VsVips the state database recorded akod making; with those akod's own
    virtual services use (and marked ones), they are the only VsVips cleanup deletes."""
    ctx = await discover(client=client, settings=settings, label_se_group=False)
    inventory = await controller_inventory(client=client, cluster=settings.cluster.name,
                                           cloud=settings.controller.cloud, tenant=settings.controller.tenant,
                                           recorded_vsvips=recorded_vsvips)
    objects = sorted(inventory, key=removal_order, reverse=True)
    kube = None
    if kube_api is not None:
        kube = await cleanup_kubernetes(api=kube_api, cluster=settings.cluster.name, apply=apply,
                                        vs_uuids=[o.uuid for o in inventory if o.obj_type == "virtualservice"])
    if apply:
        for obj in objects:
            try:
                await client.delete(obj.obj_type, obj.uuid, tenant=obj.tenant)
            except AviNotFound:
                pass  # gone already: what cleanup wants
            log.info("deleted %s %s", obj.obj_type, obj.name)
    result = await _cleanup_routes(settings=settings, client=client, ctx=ctx, apply=apply)
    result.other_se_groups = await _unlabel_other_se_groups(settings=settings, client=client, ctx=ctx, apply=apply)
    result.objects = [(o.obj_type, o.name) for o in objects]
    result.kube = kube
    return result


async def _cleanup_routes(*, settings: Settings, client: AviClient, ctx: ControllerContext,
                          apply: bool) -> CleanupResult:
    cluster = settings.cluster.name
    for _ in range(8):
        vrf = await client.get(f"/api/vrfcontext/{ctx.vrf_uuid}", tenant=ADMIN)
        routes = vrf.get("static_routes") or []
        ours = [r for r in routes if is_ours(r, cluster=cluster)]
        seg = await client.get(f"/api/serviceenginegroup/{ctx.se_group_uuid}", tenant=ADMIN)
        labels = seg.get("labels") or []
        labelled = se_group_owner(seg) == cluster
        if not apply or (not ours and not labelled):
            return CleanupResult(vrf=ctx.vrf, routes=ours, se_group_label=labelled, done=not ours and not labelled)
        try:
            if ours:
                body = dict(vrf)
                body["static_routes"] = [r for r in routes if not is_ours(r, cluster=cluster)]
                await client.put("vrfcontext", ctx.vrf_uuid, body, tenant=ADMIN)
                log.info("removed %d static routes of cluster %s from VRF %s", len(ours), cluster, ctx.vrf)
            if labelled:
                body = dict(seg)
                body["labels"] = [lb for lb in labels if lb.get("key") != CLUSTER_LABEL]
                await client.put("serviceenginegroup", ctx.se_group_uuid, body, tenant=ADMIN)
                log.info("removed the %s label from SE group %s", CLUSTER_LABEL, seg.get("name"))
        except AviPreconditionFailed:
            continue
        return CleanupResult(vrf=ctx.vrf, routes=ours, se_group_label=labelled, done=True)
    raise RuntimeError("the VRF or SE group kept changing during cleanup; run it again")


async def _unlabel_other_se_groups(*, settings: Settings, client: AviClient, ctx: ControllerContext,
                                   apply: bool) -> list[str]:
    """The other SE groups of the cloud labelled for this cluster (an AviInfraSetting's): the label goes."""
    cluster = settings.cluster.name
    found = await client.list("serviceenginegroup", params={"cloud_ref.name": settings.controller.cloud}, tenant=ADMIN)
    names: list[str] = []
    for seg in found:
        if str(seg.get("uuid")) == ctx.se_group_uuid or se_group_owner(seg) != cluster:
            continue
        names.append(str(seg.get("name")))
        if not apply:
            continue
        for _ in range(8):
            body = dict(seg)
            body["labels"] = [lb for lb in seg.get("labels") or [] if lb.get("key") != CLUSTER_LABEL]
            try:
                await client.put("serviceenginegroup", str(seg["uuid"]), body, tenant=ADMIN)
                log.info("removed the %s label from SE group %s", CLUSTER_LABEL, seg.get("name"))
                break
            except AviPreconditionFailed:
                seg = await client.get(f"/api/serviceenginegroup/{seg['uuid']}", tenant=ADMIN)
        else:
            raise RuntimeError(f"SE group {seg.get('name')} kept changing during cleanup; run it again")
    return sorted(names)
