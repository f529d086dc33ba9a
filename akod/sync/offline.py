"""One-shot operations that run without the daemon: `akod plan`, `akod check`, `akod cleanup`.

They use the same model and the same controller discovery as the daemon, so `plan` shows exactly
what the daemon would do. `plan` and `check` only read (the SE group is not labelled, nothing is
stored); `cleanup` removes this cluster's routes and SE group label, keeping everything else, like
AKO's deleteConfig. Run `cleanup` with the daemon stopped, or the daemon puts the routes back.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import ApiClient, CoreV1Api

from akod.avi import AviClient, AviPreconditionFailed
from akod.config import Settings
from akod.kube import trim_node
from akod.model.problems import Problem
from akod.model.routes import CLUSTER_LABEL, RouteDiff, diff_routes, is_ours, plan_routes
from akod.sync.discovery import ADMIN, ControllerContext, discover, routes_enabled

log = logging.getLogger("akod.sync")


@dataclass
class Plan:
    context: ControllerContext
    routes: RouteDiff
    label_se_group: bool
    problems: list[Problem] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return len(self.routes.add) + len(self.routes.update) + len(self.routes.delete) + int(self.label_se_group)

    def as_json(self) -> dict[str, Any]:
        return {
            "vrf": self.context.vrf,
            "changes": self.changes,
            "static_routes": {"add": list(self.routes.add), "update": list(self.routes.update),
                              "delete": list(self.routes.delete)},
            "se_group_label": self.label_se_group,
            "errors": [{"kind": p.obj.kind, "namespace": p.obj.namespace, "name": p.obj.name, "field": p.field,
                        "reason": p.reason, "message": p.message} for p in self.problems],
        }


async def list_node_bodies(kube_api: ApiClient) -> list[dict[str, Any]]:
    resp = await CoreV1Api(kube_api).list_node(_preload_content=False)
    data = json.loads(await resp.read())
    return [trim_node(item).body for item in data.get("items") or []]


async def make_plan(*, settings: Settings, client: AviClient, kube_api: ApiClient) -> Plan:
    ctx = await discover(client=client, settings=settings, label_se_group=False)
    cluster = settings.cluster.name
    route_plan = plan_routes(cluster=cluster, node_bodies=await list_node_bodies(kube_api),
                             enabled=routes_enabled(settings))
    vrf = await client.get(f"/api/vrfcontext/{ctx.vrf_uuid}", tenant=ADMIN)
    diff = diff_routes(existing=vrf.get("static_routes") or [], ours=route_plan.to_avi(cluster=cluster),
                       cluster=cluster)
    label = False
    if routes_enabled(settings):
        seg = await client.get(f"/api/serviceenginegroup/{ctx.se_group_uuid}", tenant=ADMIN)
        label = not any(lb.get("key") == CLUSTER_LABEL and lb.get("value") == cluster for lb in seg.get("labels") or [])
    return Plan(context=ctx, routes=diff, label_se_group=label, problems=list(route_plan.problems))


@dataclass
class CleanupResult:
    vrf: str
    routes: list[dict[str, Any]]
    se_group_label: bool
    done: bool


async def cleanup(*, settings: Settings, client: AviClient, apply: bool) -> CleanupResult:
    ctx = await discover(client=client, settings=settings, label_se_group=False)
    cluster = settings.cluster.name
    for _ in range(8):
        vrf = await client.get(f"/api/vrfcontext/{ctx.vrf_uuid}", tenant=ADMIN)
        routes = vrf.get("static_routes") or []
        ours = [r for r in routes if is_ours(r, cluster=cluster)]
        seg = await client.get(f"/api/serviceenginegroup/{ctx.se_group_uuid}", tenant=ADMIN)
        labels = seg.get("labels") or []
        labelled = any(lb.get("key") == CLUSTER_LABEL and lb.get("value") == cluster for lb in labels)
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
