"""L4: keeping one virtual service per LoadBalancer Service (or per shared-VIP group) in step.

A key is `l4:<vs name>`. `L4Index` remembers which Services feed which key, so that an event
marks exactly the keys it can change: a Service's new key and its old one (a type, class or
shared-VIP change moves it), the key of the Service an Endpoints object belongs to, every key of
a namespace whose labels changed, every key when a Node changes in NodePort mode.

Syncing a key: translate (pure), record problems, apply the objects (ordered, journaled), then
write the VIP and FQDN back to each Service's status. Bad input that leaves nothing to serve
holds the key: whatever was applied stays (a typo must not take a working Service offline), the
problem is shown, and the key converges once the input is fixed. A Service that stops being ours
(deleted, type or class changed, namespace deselected) loses its objects and gets its status
cleared.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from akod.config import Settings
from akod.kube import post_event
from akod.kube.status import patch_service_fqdn_map, patch_service_lb_status
from akod.model.l4 import L4Context, l4_key, translate_l4
from akod.model.observed import Observed
from akod.model.problems import ObjectRef, Problem
from akod.store import Store
from akod.sync.discovery import ControllerContext
from akod.sync.owned import ObjectRejected, OwnedSync
from akod.sync.reporting import ProblemReporter

log = logging.getLogger("akod.sync")
KIND = "l4"
CLEAR = "l4clear"
SvcId = tuple[str, str]


class L4Index:
    """Service -> key and key -> Services, plus namespace labels (all in memory)."""

    def __init__(self) -> None:
        self.key_of: dict[SvcId, str] = {}
        self.members: dict[str, set[SvcId]] = {}
        self.namespace_labels: dict[str, dict[str, str]] = {}

    def assign(self, svc: SvcId, key: str | None) -> str | None:
        old = self.key_of.pop(svc, None)
        if old is not None:
            self.members.get(old, set()).discard(svc)
            if not self.members.get(old):
                self.members.pop(old, None)
        if key is not None:
            self.key_of[svc] = key
            self.members.setdefault(key, set()).add(svc)
        return old


def l4_context(*, settings: Settings, ctx: ControllerContext, controller_version: str,
               license_tier: str = "ENTERPRISE") -> L4Context:
    net = settings.network.vip_networks[0] if settings.network.vip_networks else None
    sel = settings.namespaces.selector
    nps = settings.l7.node_port_selector
    return L4Context(
        cluster=settings.cluster.name, tenant=settings.controller.tenant, cloud=settings.controller.cloud,
        se_group=settings.controller.se_group, vrf=ctx.vrf,
        vip_network=net.name if net else "",
        vip_cidr=ipaddress.ip_network(str(net.cidr)) if net and net.cidr else None,
        vip_v6cidr=ipaddress.ip_network(str(net.v6cidr)) if net and getattr(net, "v6cidr", None) else None,
        default_domain=settings.network.default_domain, auto_fqdn=settings.l4.auto_fqdn,
        service_type=settings.l7.service_type,
        node_port_selector=(nps.key, nps.value) if nps.is_set else None,
        default_lb_controller=settings.l4.default_lb_controller,
        namespace_selector=(sel.key, sel.value) if sel.is_set else None,
        blocked_namespaces=frozenset(settings.namespaces.blocked),
        tcp_network_profile="System-TCP-Proxy" if license_tier.startswith("ENTERPRISE") else "System-TCP-Fast-Path",
        sctp_supported=_version_at_least(controller_version, (22, 1, 1)),
        node_networks=tuple((n.name, tuple(str(c) for c in n.cidrs)) for n in settings.network.node_networks),
    )


def _version_at_least(version: str, floor: tuple[int, ...]) -> bool:
    try:
        parts = tuple(int(p) for p in version.split(".")[:3])
    except ValueError:
        return False
    return parts >= floor


class L4Sync:
    def __init__(self, *, store: Store, owned: OwnedSync, reporter: ProblemReporter, kube_api: ApiClient | None,
                 settings: Callable[[], Settings], context: Callable[[], ControllerContext | None],
                 controller_version: Callable[[], str], mark: Callable[[str], Any],
                 endpoints_kind: Callable[[], str]) -> None:
        self._store = store
        self._owned = owned
        self._reporter = reporter
        self._kube_api = kube_api
        self._settings = settings
        self._context = context
        self._controller_version = controller_version
        self._mark = mark
        self._endpoints_kind = endpoints_kind
        self.index = L4Index()
        self._problem_holders: dict[str, set[SvcId]] = {}
        self.ready = False  # events before boot only update the index; boot marks every key

    def _ctx(self) -> L4Context | None:
        ctx = self._context()
        if ctx is None:
            return None
        return l4_context(settings=self._settings(), ctx=ctx, controller_version=self._controller_version())

    # -- routing events to keys ------------------------------------------------------------------

    async def rebuild_index(self) -> list[str]:
        """Recompute every Service's key from the store; return all keys plus status clean-ups."""
        self.index = L4Index()
        for ns in await self._store.observed(kind="Namespace"):
            self.index.namespace_labels[ns.name] = dict(ns.body.get("labels") or {})
        marks: list[str] = []
        for svc in await self._store.observed(kind="Service"):
            key = self._key_for(svc.body)
            self.index.assign((svc.namespace, svc.name), key)
            if key is None and svc.body.get("fqdn_map"):
                marks.append(f"{CLEAR}:{svc.namespace}/{svc.name}")
        return sorted(self.index.members) + marks

    def _key_for(self, body: dict[str, Any]) -> str | None:
        ctx = self._ctx()
        if ctx is None:
            return None
        labels = self.index.namespace_labels.get(str(body.get("namespace", "")))
        return l4_key(service=body, namespace_labels=labels, ctx=ctx)

    async def on_services(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        for svc in upserts:
            new = self._key_for(svc.body)
            old = self.index.assign((svc.namespace, svc.name), new)
            for key in {k for k in (old, new) if k is not None}:
                await self._mark_if_ready(key)
            if new is None and old is not None and (svc.body.get("lb_ingress") or svc.body.get("fqdn_map")):
                await self._mark_if_ready(f"{CLEAR}:{svc.namespace}/{svc.name}")
        for svc in deleted:
            old = self.index.assign((svc.namespace, svc.name), None)
            if old is not None:
                await self._mark_if_ready(old)

    async def on_endpoints(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        for ep in [*upserts, *deleted]:
            key = self.index.key_of.get((ep.namespace, str(ep.body.get("service", ""))))
            if key is not None:
                await self._mark_if_ready(key)

    async def on_namespaces(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        changed = set()
        for ns in upserts:
            labels = dict(ns.body.get("labels") or {})
            if self.index.namespace_labels.get(ns.name) != labels:
                self.index.namespace_labels[ns.name] = labels
                changed.add(ns.name)
        for ns in deleted:
            self.index.namespace_labels.pop(ns.name, None)
            changed.add(ns.name)
        for name in changed:
            await self.on_services(await self._store.observed(kind="Service", namespace=name), [])

    async def on_nodes(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        if self._settings().l7.service_type == "NodePort":
            for key in list(self.index.members):
                await self._mark_if_ready(key)

    async def _mark_if_ready(self, key: str) -> None:
        if self.ready:
            await self._mark(key)

    # -- syncing one key -------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        ctx = self._ctx()
        if ctx is None:
            raise RuntimeError("the controller context is not known yet")
        members = sorted(self.index.members.get(key, set()))
        services: list[dict[str, Any]] = []
        endpoints: dict[str, list[dict[str, Any]]] = {}
        kind = self._endpoints_kind()
        for ns, name in members:
            svc = await self._store.observed_one(kind="Service", namespace=ns, name=name)
            if svc is None:
                continue
            services.append(svc.body)
            endpoints[name] = [e.body for e in await self._store.observed_for_service(kind=kind, namespace=ns,
                                                                                        service=name)]
        nodes = [n.body for n in await self._store.observed(kind="Node")]
        result = translate_l4(key=key, services=services, endpoints=endpoints, nodes=nodes, ctx=ctx)
        holders = self._problem_holders.get(key, set()) | set(members)
        self._problem_holders[key] = {(p.obj.namespace, p.obj.name) for p in result.problems}
        if result.problems and not result.objects:
            await self._reporter.replace(kind="Service", problems=result.problems, names=holders)
            return  # hold: keep what is applied until the input is fixed
        try:
            applied = await self._owned.apply(key=key, objects=result.objects)
        except ObjectRejected as exc:
            reason = "IPAMExhausted" if "No available free IPs" in exc.error.message else "ControllerRejected"
            rejected = [Problem(obj=ObjectRef(kind="Service", namespace=ns, name=name), field=_field_for(exc),
                                reason=reason, message=f"the controller refused {exc.obj.obj_type} {exc.obj.name}: "
                                                       f"{exc.error.message}") for ns, name in members]
            self._problem_holders[key] |= set(members)
            await self._reporter.replace(kind="Service", problems=[*result.problems, *rejected], names=holders)
            raise
        await self._reporter.replace(kind="Service", problems=result.problems, names=holders)
        if not result.objects:
            return
        vsvip = next((a for (t, _, _), a in applied.items() if t == "vsvip"), None)
        vs = next((a for (t, _, _), a in applied.items() if t == "virtualservice"), None)
        vips = list((vsvip.info if vsvip else {}).get("vips") or [])
        served = set(result.served)
        for body in services:
            if (str(body["namespace"]), str(body["name"])) not in served and str(body["name"]) not in served:
                continue
            fqdn = result.hostnames.get(str(body["name"]), "")
            await self._write_status(body=body, vips=vips, fqdn=fqdn, vs_uuid=vs.uuid if vs else "",
                                     vs_name=result.vs_name)

    async def _write_status(self, *, body: dict[str, Any], vips: list[str], fqdn: str, vs_uuid: str,
                            vs_name: str) -> None:
        if self._kube_api is None:
            return
        ns, name = str(body["namespace"]), str(body["name"])
        ingress = [{"ip": ip, **({"hostname": fqdn} if fqdn else {})} for ip in vips]
        fqdn_map = {fqdn: vs_uuid} if fqdn and vs_uuid else {}
        try:
            if body.get("lb_ingress") != ingress:
                await patch_service_lb_status(api=self._kube_api, namespace=ns, name=name, ingress=ingress)
                if ingress:
                    await post_event(api=self._kube_api, obj=ObjectRef(kind="Service", namespace=ns, name=name),
                                     uid=str(body.get("uid", "")), reason="Synced", warning=False,
                                     message=f"Added virtualservice {vs_name} for {name} with VIP {', '.join(vips)}")
            current = json.loads(body["fqdn_map"]) if body.get("fqdn_map") else {}
            if current != fqdn_map:
                await patch_service_fqdn_map(api=self._kube_api, namespace=ns, name=name, fqdn_map=fqdn_map)
        except ApiException as exc:
            if exc.status != 404:  # a Service deleted meanwhile needs no status
                raise

    async def clear(self, key: str) -> None:
        """`l4clear:<ns>/<name>`: a Service that is no longer ours loses the status we wrote."""
        ns, _, name = key.split(":", 1)[1].partition("/")
        if self.index.key_of.get((ns, name)) is not None or self._kube_api is None:
            return
        svc = await self._store.observed_one(kind="Service", namespace=ns, name=name)
        if svc is None:
            return
        await self._reporter.replace(kind="Service", problems=[], names={(ns, name)})
        try:
            if svc.body.get("lb_ingress"):
                await patch_service_lb_status(api=self._kube_api, namespace=ns, name=name, ingress=[])
            if svc.body.get("fqdn_map"):
                await patch_service_fqdn_map(api=self._kube_api, namespace=ns, name=name, fqdn_map=None)
        except ApiException as exc:
            if exc.status != 404:
                raise


def _field_for(exc: ObjectRejected) -> str:
    if exc.obj.obj_type == "vsvip":
        return "spec.loadBalancerIP"
    if exc.obj.obj_type == "pool":
        return "spec.ports"
    return "metadata.name"


def all_l4_keys(keys: Iterable[str]) -> list[str]:
    return [k for k in keys if k.startswith(f"{KIND}:")]
