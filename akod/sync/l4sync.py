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
import logging
from collections.abc import Callable, Sequence
from typing import Any

from kubernetes_asyncio.client import ApiClient

from akod.config import Settings
from akod.model.l4 import L4Context, l4_key, translate_l4
from akod.model.observed import Observed
from akod.model.problems import ObjectRef, Problem
from akod.store import Store
from akod.sync.discovery import ControllerContext
from akod.sync.owned import ObjectRejected, OwnedSync
from akod.sync.reporting import ProblemReporter
from akod.sync.writeback import write_back

log = logging.getLogger("akod.sync")
KIND = "l4"
CLEAR = "l4clear"
SvcId = tuple[str, str]
# Which Services are ours depends on the settings only; the VRF is not needed to tell.
NO_CONTEXT = ControllerContext(vrf="", vrf_uuid="", vrf_source="", se_group_uuid="", cloud_uuid="")


class L4Index:
    """Service -> key and key -> Services, plus namespace labels (all in memory)."""

    def __init__(self) -> None:
        self.key_of: dict[SvcId, str] = {}
        self.members: dict[str, set[SvcId]] = {}
        self.namespace_labels: dict[str, dict[str, str]] = {}
        self.fingerprint: dict[SvcId, dict[str, Any]] = {}
        # The newest trimmed bodies, so that syncing a key reads no database (an informer cache;
        # the store keeps the durable copy the daemon restarts from).
        self.services: dict[SvcId, dict[str, Any]] = {}
        self.endpoints: dict[SvcId, dict[str, dict[str, Any]]] = {}  # (ns, service) -> object name -> body
        self.nodes: dict[str, dict[str, Any]] = {}

    def put_endpoints(self, obj: Observed) -> SvcId:
        svc = (obj.namespace, str(obj.body.get("service", "")))
        self.endpoints.setdefault(svc, {})[obj.name] = obj.body
        return svc

    def drop_endpoints(self, obj: Observed) -> SvcId:
        svc = (obj.namespace, str(obj.body.get("service", "")))
        self.endpoints.get(svc, {}).pop(obj.name, None)
        if not self.endpoints.get(svc):
            self.endpoints.pop(svc, None)
        return svc

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
        self._contexts: dict[str, tuple[Settings, ControllerContext, L4Context]] = {}

    def _ctx(self) -> L4Context | None:
        ctx = self._context()
        if ctx is None:
            return None
        return self.l4_context_for(ctx=ctx, controller_version=self._controller_version())

    def l4_context_for(self, *, ctx: ControllerContext, controller_version: str) -> L4Context:
        """`l4_context(...)`, built again only when the settings object or the context changed."""
        settings = self._settings()
        memo = self._contexts.get(controller_version)
        if memo is not None and memo[0] is settings and memo[1] == ctx:
            return memo[2]
        value = l4_context(settings=settings, ctx=ctx, controller_version=controller_version)
        if len(self._contexts) > 4:
            self._contexts.clear()
        self._contexts[controller_version] = (settings, ctx, value)
        return value

    # -- routing events to keys ------------------------------------------------------------------

    async def load(self) -> None:
        """Fill the index from the store, once, before the watches start delivering changes."""
        for ns in await self._store.observed(kind="Namespace"):
            self.index.namespace_labels[ns.name] = dict(ns.body.get("labels") or {})
        for node in await self._store.observed(kind="Node"):
            self.index.nodes[node.name] = node.body
        for ep in await self._store.observed(kind=self._endpoints_kind()):
            self.index.put_endpoints(ep)
        for svc in await self._store.observed(kind="Service"):
            ident = (svc.namespace, svc.name)
            self.index.services[ident] = svc.body
            self.index.fingerprint[ident] = _fingerprint(svc.body)
            self.index.assign(ident, self._key_for(svc.body))

    async def reassign_all(self) -> None:
        """After a config reload: every Service's key may have changed (selector, class, domain...)."""
        everything = [Observed(kind="Service", namespace=ns, name=n, uid="", resource_version="", body=body)
                      for (ns, n), body in list(self.index.services.items())]
        self.index.fingerprint.clear()
        await self.on_services(everything, [])
        for key in list(self.index.members):
            await self._mark_if_ready(key)

    def all_keys(self) -> list[str]:
        """Every L4 key, plus a status clean-up for each Service that is not ours but shows our status."""
        clear = [f"{CLEAR}:{ns}/{name}" for (ns, name), body in sorted(self.index.services.items())
                 if self.index.key_of.get((ns, name)) is None and body.get("fqdn_map")]
        return sorted(self.index.members) + clear

    def _key_for(self, body: dict[str, Any]) -> str | None:
        ctx = self.l4_context_for(ctx=self._context() or NO_CONTEXT, controller_version="")
        labels = self.index.namespace_labels.get(str(body.get("namespace", "")))
        return l4_key(service=body, namespace_labels=labels, ctx=ctx)

    async def on_services(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        for svc in upserts:
            ident = (svc.namespace, svc.name)
            self.index.services[ident] = svc.body
            new = self._key_for(svc.body)
            print_ = _fingerprint(svc.body)
            if self.index.key_of.get(ident) == new and self.index.fingerprint.get(ident) == print_:
                continue  # only what akod itself wrote (status, FQDN map) changed: nothing to sync
            self.index.fingerprint[ident] = print_
            old = self.index.assign(ident, new)
            for key in {k for k in (old, new) if k is not None}:
                await self._mark_if_ready(key)
            if new is None and old is not None and (svc.body.get("lb_ingress") or svc.body.get("fqdn_map")):
                await self._mark_if_ready(f"{CLEAR}:{svc.namespace}/{svc.name}")
        for svc in deleted:
            self.index.fingerprint.pop((svc.namespace, svc.name), None)
            self.index.services.pop((svc.namespace, svc.name), None)
            old = self.index.assign((svc.namespace, svc.name), None)
            if old is not None:
                await self._mark_if_ready(old)

    async def on_endpoints(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        touched = [self.index.put_endpoints(ep) for ep in upserts] + [self.index.drop_endpoints(ep) for ep in deleted]
        for svc in touched:
            key = self.index.key_of.get(svc)
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
            ours = [Observed(kind="Service", namespace=ns, name=n, uid="", resource_version="", body=body)
                    for (ns, n), body in list(self.index.services.items()) if ns == name]
            for svc in ours:
                self.index.fingerprint.pop((svc.namespace, svc.name), None)  # the key may move: re-check
            await self.on_services(ours, [])

    async def on_nodes(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        for node in upserts:
            self.index.nodes[node.name] = node.body
        for node in deleted:
            self.index.nodes.pop(node.name, None)
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
        for ns, name in members:
            body = self.index.services.get((ns, name))
            if body is None:
                continue
            services.append(body)
            endpoints[name] = [b for _, b in sorted(self.index.endpoints.get((ns, name), {}).items())]
        nodes = [b for _, b in sorted(self.index.nodes.items())]
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
        await write_back(api=self._kube_api, obj=ObjectRef(kind="Service", namespace=ns, name=name), body=body,
                         ingress=ingress, fqdn_map={fqdn: vs_uuid} if fqdn and vs_uuid else {},
                         event=f"Added virtualservice {vs_name} for {name} with VIP {', '.join(vips)}")

    async def clear(self, key: str) -> None:
        """`l4clear:<ns>/<name>`: a Service that is no longer ours loses the status we wrote."""
        ns, _, name = key.split(":", 1)[1].partition("/")
        if self.index.key_of.get((ns, name)) is not None or self._kube_api is None:
            return
        body = self.index.services.get((ns, name))
        if body is None:
            return
        await self._reporter.replace(kind="Service", problems=[], names={(ns, name)})
        await write_back(api=self._kube_api, obj=ObjectRef(kind="Service", namespace=ns, name=name), body=body,
                         ingress=[], fqdn_map={})


def _fingerprint(body: dict[str, Any]) -> dict[str, Any]:
    """What of a Service the translation reads: everything but what akod writes back itself.

    Compared with `==` (a shallow copy of the trimmed body, which is never changed in place):
    cheaper than hashing it, for the two watch events each status write-back causes.
    """
    return {k: v for k, v in body.items() if k not in ("lb_ingress", "fqdn_map")}


def _field_for(exc: ObjectRejected) -> str:
    if exc.obj.obj_type == "vsvip":
        return "spec.loadBalancerIP"
    if exc.obj.obj_type == "pool":
        return "spec.ports"
    return "metadata.name"

