"""One-shot operations that run without the daemon: `akod plan`, `akod check`, `akod cleanup`.

They use the same model and the same controller discovery as the daemon, so `plan` shows exactly
what the daemon would do. `plan` and `check` only read (the SE group is not labelled, nothing is
stored); `cleanup` removes this cluster's routes and SE group label, keeping everything else, like
AKO's deleteConfig. Run `cleanup` with the daemon stopped, or the daemon puts the routes back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import ApiClient, CoreV1Api, DiscoveryV1Api, NetworkingV1Api

from akod.avi import AviClient, AviPreconditionFailed
from akod.config import Settings
from akod.kube import trim_node
from akod.kube.apis import endpoint_slices_served
from akod.kube.trimming import (
    trim_endpoint_slice,
    trim_endpoints,
    trim_ingress,
    trim_ingress_class,
    trim_namespace,
    trim_secret,
    trim_service,
)
from akod.model.l4 import l4_key, translate_l4
from akod.model.l7 import L7_KEY_PREFIX, L7Context, ingress_accepted, keys_of_ingress, translate_l7
from akod.model.observed import Observed
from akod.model.problems import Problem
from akod.model.routes import CLUSTER_LABEL, RouteDiff, diff_routes, is_ours, plan_routes
from akod.sync.discovery import ADMIN, ControllerContext, discover, routes_enabled, se_group_owner
from akod.sync.inventory import controller_inventory
from akod.sync.l4sync import l4_context
from akod.sync.owned import removal_order

log = logging.getLogger("akod.sync")


@dataclass(frozen=True)
class ObjectChange:
    action: str  # create | update | delete
    obj_type: str
    name: str
    owner: str


@dataclass(frozen=True)
class Wanted:
    """An object the translation wants, for comparison with the controller's copy."""

    obj_type: str
    name: str
    owner: str
    checksum: str


@dataclass
class Plan:
    context: ControllerContext
    routes: RouteDiff
    label_se_group: bool
    problems: list[Problem] = field(default_factory=list)
    objects: list[ObjectChange] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return (len(self.routes.add) + len(self.routes.update) + len(self.routes.delete) + int(self.label_se_group)
                + len(self.objects))

    def as_json(self) -> dict[str, Any]:
        return {
            "vrf": self.context.vrf,
            "changes": self.changes,
            "static_routes": {"add": list(self.routes.add), "update": list(self.routes.update),
                              "delete": list(self.routes.delete)},
            "se_group_label": self.label_se_group,
            "objects": [{"action": c.action, "type": c.obj_type, "name": c.name, "for": c.owner}
                        for c in self.objects],
            "errors": [{"kind": p.obj.kind, "namespace": p.obj.namespace, "name": p.obj.name, "field": p.field,
                        "reason": p.reason, "message": p.message} for p in self.problems],
        }


async def _list(list_fn: Any, trim: Any, **kwargs: Any) -> list[Observed]:
    resp = await list_fn(_preload_content=False, **kwargs)
    data = json.loads(await resp.read())
    return [trim(item) for item in data.get("items") or []]


async def _endpoint_bodies(kube_api: ApiClient) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(namespace, Service) -> its trimmed EndpointSlices, or core v1 Endpoints where there are none."""
    if await endpoint_slices_served(kube_api):
        found = await _list(DiscoveryV1Api(kube_api).list_endpoint_slice_for_all_namespaces, trim_endpoint_slice)
    else:
        found = await _list(CoreV1Api(kube_api).list_endpoints_for_all_namespaces, trim_endpoints)
    endpoints: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for ep in found:
        endpoints.setdefault((ep.namespace, str(ep.body.get("service"))), []).append(ep.body)
    return endpoints


async def list_node_bodies(kube_api: ApiClient) -> list[dict[str, Any]]:
    return [o.body for o in await _list(CoreV1Api(kube_api).list_node, trim_node)]


@dataclass(frozen=True)
class ClusterSnapshot:
    """What the translations read, listed once from the apiserver (trimmed as the daemon's watches trim)."""

    namespaces: dict[str, dict[str, str]]  # name -> labels
    nodes: list[dict[str, Any]]
    services: list[Observed]
    endpoints: dict[tuple[str, str], list[dict[str, Any]]]
    classes: dict[str, dict[str, Any]]
    ingresses: list[Observed]
    secrets: dict[tuple[str, str], Observed]  # TLS Secrets only, material in memory

    @classmethod
    async def read(cls, kube_api: ApiClient) -> ClusterSnapshot:
        core, net = CoreV1Api(kube_api), NetworkingV1Api(kube_api)
        return cls(
            namespaces={o.name: dict(o.body.get("labels") or {})
                        for o in await _list(core.list_namespace, trim_namespace)},
            nodes=await list_node_bodies(kube_api),
            services=await _list(core.list_service_for_all_namespaces, trim_service),
            endpoints=await _endpoint_bodies(kube_api),
            classes={o.name: o.body for o in await _list(net.list_ingress_class, trim_ingress_class)},
            ingresses=await _list(net.list_ingress_for_all_namespaces, trim_ingress),
            secrets={(o.namespace, o.name): o for o in await _list(
                core.list_secret_for_all_namespaces, trim_secret, field_selector="type=kubernetes.io/tls")},
        )


def plan_l4(*, settings: Settings, ctx: ControllerContext, controller_version: str,
            cluster: ClusterSnapshot) -> tuple[list[Wanted], list[Problem]]:
    """L4 objects wanted: the daemon's translation of every L4 key (compared by `_diff`)."""
    l4ctx = l4_context(settings=settings, ctx=ctx, controller_version=controller_version)
    keys: dict[str, list[Observed]] = {}
    for svc in cluster.services:
        key = l4_key(service=svc.body, namespace_labels=cluster.namespaces.get(svc.namespace), ctx=l4ctx)
        if key is not None:
            keys.setdefault(key, []).append(svc)
    wanted: list[Wanted] = []
    problems: list[Problem] = []
    for key, members in sorted(keys.items()):
        result = translate_l4(key=key, services=[m.body for m in members],
                              endpoints={m.name: cluster.endpoints.get((m.namespace, m.name), []) for m in members},
                              nodes=cluster.nodes, ctx=l4ctx)
        problems.extend(result.problems)
        owner = ", ".join(f"Service {m.namespace}/{m.name}" for m in members)
        wanted += [Wanted(obj_type=o.obj_type, name=o.name, owner=owner, checksum=o.checksum) for o in result.objects]
    return wanted, problems


def plan_l7(*, settings: Settings, ctx: ControllerContext, controller_version: str, cluster: ClusterSnapshot,
            shells: set[str]) -> tuple[list[Wanted], list[Problem]]:
    """L7 objects wanted: the daemon's translation of every shard (or dedicated) key."""
    services = {(o.namespace, o.name): o.body for o in cluster.services}
    l7ctx = L7Context(l4=l4_context(settings=settings, ctx=ctx, controller_version=controller_version),
                      shards=settings.l7.shard_count, default_ing_controller=settings.l7.default_ing_controller,
                      now=dt.datetime.now(dt.timezone.utc))
    keys: dict[str, list[Observed]] = {key: [] for key in shells}
    for ing in cluster.ingresses:
        if ingress_accepted(ingress=ing.body, classes=cluster.classes,
                            namespace_labels=cluster.namespaces.get(ing.namespace), ctx=l7ctx):
            for key in keys_of_ingress(ingress=ing.body, ctx=l7ctx):
                keys.setdefault(key, []).append(ing)
    wanted: list[Wanted] = []
    problems: list[Problem] = []
    for key, members in sorted(keys.items()):
        result = translate_l7(key=key, ingresses=[m.body for m in members], services=services,
                              endpoints=cluster.endpoints, nodes=cluster.nodes, secrets=cluster.secrets, ctx=l7ctx,
                              keep_shell=key in shells)
        problems.extend(p for p in result.problems if p not in problems)
        owner = ", ".join(f"Ingress {m.namespace}/{m.name}" for m in members) or "the shared VIP (kept)"
        wanted += [Wanted(obj_type=o.obj_type, name=o.name, owner=owner, checksum=o.checksum) for o in result.objects]
    return wanted, problems


def _diff(*, wanted: list[Wanted], have: dict[tuple[str, str], Any]) -> list[ObjectChange]:
    """What to create, update and delete so that the controller holds exactly `wanted`."""
    changes: list[ObjectChange] = []
    names: set[tuple[str, str]] = set()
    for w in wanted:
        names.add((w.obj_type, w.name))
        current = have.get((w.obj_type, w.name))
        if current is None:
            changes.append(ObjectChange(action="create", obj_type=w.obj_type, name=w.name, owner=w.owner))
        elif current.checksum != w.checksum:
            changes.append(ObjectChange(action="update", obj_type=w.obj_type, name=w.name, owner=w.owner))
    for (obj_type, name) in sorted(set(have) - names):
        changes.append(ObjectChange(action="delete", obj_type=obj_type, name=name, owner="no Kubernetes object"))
    return changes


async def make_plan(*, settings: Settings, client: AviClient, kube_api: ApiClient) -> Plan:
    ctx = await discover(client=client, settings=settings, label_se_group=False)
    cluster = settings.cluster.name
    snapshot = await ClusterSnapshot.read(kube_api)
    route_plan = plan_routes(cluster=cluster, node_bodies=snapshot.nodes, enabled=routes_enabled(settings))
    vrf = await client.get(f"/api/vrfcontext/{ctx.vrf_uuid}", tenant=ADMIN)
    diff = diff_routes(existing=vrf.get("static_routes") or [], ours=route_plan.to_avi(cluster=cluster),
                       cluster=cluster)
    label = False
    if routes_enabled(settings):
        seg = await client.get(f"/api/serviceenginegroup/{ctx.se_group_uuid}", tenant=ADMIN)
        label = se_group_owner(seg) != cluster
    have = {(a.obj_type, a.name): a for a in await controller_inventory(
        client=client, cluster=cluster, cloud=settings.controller.cloud, tenant=settings.controller.tenant)}
    shells = {f"{L7_KEY_PREFIX}{name}" for (obj_type, name) in have
              if obj_type == "virtualservice" and name.startswith(f"{cluster}--Shared-L7-")}
    version = client.controller_version or ""
    l4_wanted, l4_problems = plan_l4(settings=settings, ctx=ctx, controller_version=version, cluster=snapshot)
    l7_wanted, l7_problems = plan_l7(settings=settings, ctx=ctx, controller_version=version, cluster=snapshot,
                                     shells=shells)
    return Plan(context=ctx, routes=diff, label_se_group=label,
                problems=[*route_plan.problems, *l4_problems, *l7_problems],
                objects=_diff(wanted=[*l4_wanted, *l7_wanted], have=have))


@dataclass
class CleanupResult:
    vrf: str
    routes: list[dict[str, Any]]
    se_group_label: bool
    done: bool
    objects: list[tuple[str, str]] = field(default_factory=list)


async def cleanup(*, settings: Settings, client: AviClient, apply: bool) -> CleanupResult:
    """Delete every object of this cluster (parents first), then its routes and SE group label."""
    ctx = await discover(client=client, settings=settings, label_se_group=False)
    cluster = settings.cluster.name
    inventory = await controller_inventory(client=client, cluster=cluster, cloud=settings.controller.cloud,
                                           tenant=settings.controller.tenant)
    objects = sorted(inventory, key=removal_order, reverse=True)
    if apply:
        for obj in objects:
            await client.delete(obj.obj_type, obj.uuid, tenant=obj.tenant)
            log.info("deleted %s %s", obj.obj_type, obj.name)
    deleted = [(o.obj_type, o.name) for o in objects]
    result = await _cleanup_routes(settings=settings, client=client, ctx=ctx, apply=apply)
    result.objects = deleted
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
