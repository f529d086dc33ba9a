"""L7: keeping the shared virtual services (one per shard) in step with the Ingresses.

A key is `l7:<shard vs name>` (`l7:<cluster>--Shared-L7-<n>`, or one per host in DEDICATED mode).
Everything the hosts of a shard need belongs to its key: pools, SNI children, certificates, their
pool groups and policy sets, and the shard's VIP, VS and policy set. `L7Index` remembers which
Ingresses feed which key and which Services and Secrets each Ingress uses, so that an event marks
exactly the keys it can change: an Ingress's old and new shards, the shards of the Ingresses that
use a Service whose endpoints moved, or a Secret that was rotated.

Syncing a key: translate (pure), record the problems of its Ingresses, apply the objects (ordered,
journaled; the shard's policy set by PATCH of the changed hosts only), then write each Ingress's
status: `{ip: shard VIP, hostname: host}` per served host, across all the shards it spans. An
Ingress's status is written once every shard it spans has been synced since start, so a restart
never shows a half status. The shard's VIP and VS stay when its last host goes (a stable VIP);
only `akod cleanup` removes them.

Secret material lives only in this process: the watch relists Secrets at every start, and the
store keeps a digest of each.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from kubernetes_asyncio.client import ApiClient

from akod.config import Settings
from akod.model.checksums import checksum
from akod.model.l7 import (
    L7_KEY_PREFIX,
    L7Context,
    hostless_problems,
    ingress_accepted,
    keys_of_ingress,
    translate_l7,
)
from akod.model.observed import Observed
from akod.model.problems import ObjectRef, Problem
from akod.store import Store
from akod.sync.discovery import ControllerContext
from akod.sync.l4sync import NO_CONTEXT, L4Sync
from akod.sync.owned import ObjectRejected, OwnedSync
from akod.sync.reporting import ProblemReporter
from akod.sync.writeback import write_back

log = logging.getLogger("akod.sync")
KIND = L7_KEY_PREFIX.rstrip(":")
CLEAR = "l7clear"
SHARED = "--Shared-L7-"
IngId = tuple[str, str]
# What one synced key serves, per Ingress: (host, VIP, uuid of the VS that serves the host).
Served = dict[IngId, list[tuple[str, str, str]]]


def _backends(body: dict[str, Any]) -> set[tuple[str, str]]:
    ns = str(body.get("namespace", ""))
    names = {str(p.get("service") or "") for rule in body.get("rules") or [] for p in rule.get("paths") or []}
    default = body.get("default_backend") or {}
    names.add(str(default.get("service") or ""))
    return {(ns, n) for n in names if n}


def _secrets(body: dict[str, Any]) -> set[tuple[str, str]]:
    ns = str(body.get("namespace", ""))
    return {(ns, str(t.get("secret") or "")) for t in body.get("tls") or [] if t.get("secret")}


def _fingerprint(body: dict[str, Any]) -> str:
    """What of an Ingress the translation reads: everything but what akod writes back itself."""
    return checksum({k: v for k, v in body.items() if k not in ("lb_ingress", "fqdn_map")})


class L7Index:
    """Ingress -> keys, key -> Ingresses, Service/Secret -> Ingresses; IngressClasses and Secrets."""

    def __init__(self) -> None:
        self.ingresses: dict[IngId, dict[str, Any]] = {}
        self.classes: dict[str, dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], Observed] = {}
        self.keys_of: dict[IngId, frozenset[str]] = {}
        self.members: dict[str, set[IngId]] = {}
        self.fingerprint: dict[IngId, str] = {}
        self.users: dict[tuple[str, str], set[IngId]] = {}  # Service or Secret (ns, name) -> Ingresses
        self.uses: dict[IngId, set[tuple[str, str]]] = {}  # the reverse: what each Ingress uses
        self.hostless: dict[IngId, tuple[Problem, ...]] = {}  # ours, but no host to serve: no key reports it

    def assign(self, ing: IngId, keys: frozenset[str]) -> frozenset[str]:
        old = self.keys_of.pop(ing, frozenset())
        for key in old:
            self.members.get(key, set()).discard(ing)
            if not self.members.get(key):
                self.members.pop(key, None)
        if keys:
            self.keys_of[ing] = keys
            for key in keys:
                self.members.setdefault(key, set()).add(ing)
        return old

    def link(self, ing: IngId, body: dict[str, Any] | None) -> None:
        """Record which Services and Secrets `ing` uses (None: it uses none any more)."""
        for ref in self.uses.pop(ing, set()):
            self.users[ref].discard(ing)
            if not self.users[ref]:
                del self.users[ref]
        if body is not None:
            self.uses[ing] = _backends(body) | _secrets(body)
            for ref in self.uses[ing]:
                self.users.setdefault(ref, set()).add(ing)

    def keys_using(self, refs: Iterable[tuple[str, str]]) -> set[str]:
        return {key for ref in refs for ing in self.users.get(ref, ()) for key in self.keys_of.get(ing, ())}


class L7Sync:
    def __init__(self, *, store: Store, owned: OwnedSync, reporter: ProblemReporter, kube_api: ApiClient | None,
                 settings: Callable[[], Settings], context: Callable[[], ControllerContext | None],
                 controller_version: Callable[[], str], mark: Callable[[str], Any], l4: L4Sync) -> None:
        self._store = store
        self._owned = owned
        self._reporter = reporter
        self._kube_api = kube_api
        self._settings = settings
        self._context = context
        self._controller_version = controller_version
        self._mark = mark
        self._l4 = l4.index  # Services, endpoints, Nodes and namespace labels: one informer cache for both
        self._l4_context = l4.l4_context_for  # built again only when settings or controller change
        self.index = L7Index()
        self.served: dict[str, Served] = {}
        self._shelled: set[str] = set()  # keys whose shared VS exists: kept even with no host left
        self._problems: dict[str, dict[IngId, list[Problem]]] = {}  # key -> Ingress -> its problems there
        self.ready = False

    def context(self, ctx: ControllerContext | None = None, *, version: str = "") -> L7Context:
        s = self._settings()
        return L7Context(l4=self._l4_context(ctx=ctx or NO_CONTEXT, controller_version=version),
                         shards=s.l7.shard_count, default_ing_controller=s.l7.default_ing_controller,
                         now=dt.datetime.now(dt.timezone.utc))

    # -- routing events to keys ------------------------------------------------------------------

    async def load(self) -> None:
        """Fill the index from the store before the watches deliver changes (Secrets come by relist)."""
        for cls in await self._store.observed(kind="IngressClass"):
            self.index.classes[cls.name] = cls.body
        for ing in await self._store.observed(kind="Ingress"):
            self._update(ing.body)

    def _update(self, body: dict[str, Any]) -> tuple[frozenset[str], frozenset[str]] | None:
        """Take a new body of an Ingress; (old keys, new keys), or None when nothing we read changed."""
        ing = (str(body.get("namespace", "")), str(body.get("name", "")))
        self.index.ingresses[ing] = body
        ctx = self.context()
        labels = self._l4.namespace_labels.get(ing[0])
        ours = ingress_accepted(ingress=body, classes=self.index.classes, namespace_labels=labels, ctx=ctx)
        keys = keys_of_ingress(ingress=body, ctx=ctx) if ours else frozenset()
        if ours and not keys:
            self.index.hostless[ing] = hostless_problems(ingress=body, ctx=ctx)
        else:
            self.index.hostless.pop(ing, None)
        fingerprint = _fingerprint(body)
        if self.index.keys_of.get(ing, frozenset()) == keys and self.index.fingerprint.get(ing) == fingerprint:
            return None
        self.index.fingerprint[ing] = fingerprint
        self.index.link(ing, body)
        return self.index.assign(ing, keys), keys

    async def on_ingresses(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        for obj in upserts:
            change = self._update(obj.body)
            if change is None:
                continue
            old, new = change
            for key in old | new:
                await self._mark_if_ready(key)
            if not new:  # no key will report on it: say why it is not served (or that nothing is wrong)
                await self._report_hostless((obj.namespace, obj.name))
            if not new and old and (obj.body.get("lb_ingress") or obj.body.get("fqdn_map")):
                await self._mark_if_ready(f"{CLEAR}:{obj.namespace}/{obj.name}")
        for obj in deleted:
            ing = (obj.namespace, obj.name)
            self.index.ingresses.pop(ing, None)
            self.index.fingerprint.pop(ing, None)
            self.index.link(ing, None)
            self.index.hostless.pop(ing, None)
            for key in self.index.assign(ing, frozenset()):
                await self._mark_if_ready(key)
            await self._report_hostless(ing)

    async def reassign_all(self, namespaces: Iterable[str] | None = None) -> None:
        """Re-evaluate which Ingresses are ours (classes, namespace labels or the config changed)."""
        wanted = None if namespaces is None else set(namespaces)
        bodies = [Observed(kind="Ingress", namespace=ns, name=n, uid="", resource_version="", body=body)
                  for (ns, n), body in list(self.index.ingresses.items()) if wanted is None or ns in wanted]
        for obj in bodies:
            self.index.fingerprint.pop((obj.namespace, obj.name), None)
        await self.on_ingresses(bodies, [])

    async def on_classes(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        for obj in upserts:
            self.index.classes[obj.name] = obj.body
        for obj in deleted:
            self.index.classes.pop(obj.name, None)
        await self.reassign_all()

    async def on_secrets(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        for obj in upserts:
            self.index.secrets[(obj.namespace, obj.name)] = obj
        for obj in deleted:
            self.index.secrets.pop((obj.namespace, obj.name), None)
        for key in self.index.keys_using((o.namespace, o.name) for o in [*upserts, *deleted]):
            await self._mark_if_ready(key)

    async def on_services(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        for key in self.index.keys_using((o.namespace, o.name) for o in [*upserts, *deleted]):
            await self._mark_if_ready(key)

    async def on_endpoints(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        refs = [(o.namespace, str(o.body.get("service", ""))) for o in [*upserts, *deleted]]
        for key in self.index.keys_using(refs):
            await self._mark_if_ready(key)

    async def on_namespaces(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        await self.reassign_all(namespaces=[o.name for o in [*upserts, *deleted]])

    async def on_nodes(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        if self._settings().l7.service_type == "NodePort":
            for key in list(self.index.members):
                await self._mark_if_ready(key)

    async def _mark_if_ready(self, key: str) -> None:
        if self.ready:
            await self._mark(key)

    async def all_keys(self) -> list[str]:
        """Every key with an Ingress or a shared VS on the controller, and status clean-ups."""
        cluster = self._settings().cluster.name
        shells = {f"{L7_KEY_PREFIX}{a.name}" for a in await self._store.all_applied(obj_type="virtualservice")
                  if a.name.startswith(f"{cluster}{SHARED}")}
        self._shelled |= shells
        for ing in list(self.index.hostless):
            await self._report_hostless(ing)
        clear = [f"{CLEAR}:{ns}/{name}" for (ns, name), body in sorted(self.index.ingresses.items())
                 if not self.index.keys_of.get((ns, name)) and body.get("fqdn_map")]
        return sorted(set(self.index.members) | shells) + clear

    # -- syncing one key -------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        controller = self._context()
        if controller is None:
            raise RuntimeError("the controller context is not known yet")
        ctx = self.context(controller, version=self._controller_version())
        members = sorted(self.index.members.get(key, set()))
        ingresses = [self.index.ingresses[i] for i in members if i in self.index.ingresses]
        backends = set().union(*(_backends(b) for b in ingresses)) if ingresses else set()
        services = {ref: self._l4.services[ref] for ref in backends if ref in self._l4.services}
        endpoints = {ref: [b for _, b in sorted(self._l4.endpoints.get(ref, {}).items())] for ref in backends}
        nodes = [b for _, b in sorted(self._l4.nodes.items())]
        secret_refs = set().union(*(_secrets(b) for b in ingresses)) if ingresses else set()
        secrets = {ref: self.index.secrets[ref] for ref in secret_refs if ref in self.index.secrets}
        if key not in self._shelled and SHARED in key:  # a dedicated VS goes with its last host (AKO)
            vs_name = key[len(L7_KEY_PREFIX):]
            if await self._store.applied(obj_type="virtualservice", tenant=ctx.l4.tenant, name=vs_name):
                self._shelled.add(key)
        result = translate_l7(key=key, ingresses=ingresses, services=services, endpoints=endpoints, nodes=nodes,
                              secrets=secrets, ctx=ctx, keep_shell=key in self._shelled)
        try:
            applied = await self._owned.apply(key=key, objects=result.objects)
        except ObjectRejected as exc:
            concerned = [m for m in members if _concerns(exc.obj.name, self.index.ingresses.get(m))] or members
            rejected = [Problem(obj=ObjectRef(kind="Ingress", namespace=ns, name=name), field="spec",
                                reason="ControllerRejected",
                                message=f"the controller refused {exc.obj.obj_type} {exc.obj.name}: {exc.error.message}")
                        for ns, name in concerned]
            await self._report(key=key, members=members, problems=[*result.problems, *rejected])
            raise
        await self._report(key=key, members=members, problems=result.problems)
        if SHARED in key and any(o.obj_type == "virtualservice" and o.name == result.vs_name for o in result.objects):
            self._shelled.add(key)
        vsvip = next((a for (t, _, n), a in applied.items() if t == "vsvip" and n == result.vs_name), None)
        vips = list((vsvip.info if vsvip else {}).get("vips") or [])
        uuids = {n: a.uuid for (t, _, n), a in applied.items() if t == "virtualservice"}
        before = set(self.served.get(key, {}))
        self.served[key] = {ing: [(host, vips[0] if vips else "", uuids.get(vs, "")) for host, vs in hosts]
                            for ing, hosts in result.served.items()}
        for ing in sorted(before | set(self.served[key]) | set(members)):
            await self._write_status(ing)

    async def _report_hostless(self, ing: IngId) -> None:
        if self.ready:
            await self._reporter.replace(kind="Ingress", problems=self.index.hostless.get(ing, ()), names={ing})

    async def _report(self, *, key: str, members: Sequence[IngId], problems: Sequence[Problem]) -> None:
        """Show each Ingress's problems from all the keys it spans (one key's sync must not hide another's)."""
        mine: dict[IngId, list[Problem]] = {}
        for p in problems:
            mine.setdefault((p.obj.namespace, p.obj.name), []).append(p)
        names = set(self._problems.get(key, {})) | set(members) | set(mine)
        self._problems[key] = mine
        combined = [p for ing in sorted(names) for per_key in self._problems.values() for p in per_key.get(ing, ())]
        await self._reporter.replace(kind="Ingress", problems=list(dict.fromkeys(combined)), names=names)

    async def _write_status(self, ing: IngId) -> None:
        body = self.index.ingresses.get(ing)
        if body is None or self._kube_api is None:
            return
        keys = self.index.keys_of.get(ing, frozenset())
        if not keys or any(k not in self.served for k in keys):
            return  # another shard of this Ingress has not been synced yet: it writes the status
        served = sorted({entry for k in keys for entry in self.served[k].get(ing, [])})
        ingress = [{"ip": ip, "hostname": host} for host, ip, _ in served if ip]
        fqdn_map = {host: uuid for host, _, uuid in served if uuid}
        ns, name = ing
        hosts = ", ".join(e["hostname"] for e in ingress)
        await write_back(api=self._kube_api, obj=ObjectRef(kind="Ingress", namespace=ns, name=name), body=body,
                         ingress=ingress, fqdn_map=fqdn_map, event=f"Added virtualservice for {name}: {hosts}")

    async def clear(self, key: str) -> None:
        """`l7clear:<ns>/<name>`: an Ingress that is no longer ours loses the status we wrote."""
        ns, _, name = key.split(":", 1)[1].partition("/")
        if self.index.keys_of.get((ns, name)) or self._kube_api is None:
            return
        body = self.index.ingresses.get((ns, name))
        if body is None:
            return
        await self._reporter.replace(kind="Ingress", problems=[], names={(ns, name)})
        await write_back(api=self._kube_api, obj=ObjectRef(kind="Ingress", namespace=ns, name=name), body=body,
                         ingress=[], fqdn_map={})


def _concerns(obj_name: str, body: dict[str, Any] | None) -> bool:
    """Does a refused object belong to this Ingress (its name or one of its hosts is in the name)?"""
    if body is None:
        return False
    hosts = [str(r.get("host") or "") for r in body.get("rules") or []]
    return str(body.get("name", "")) in obj_name or any(h and h.replace("/", "_") in obj_name for h in hosts)
