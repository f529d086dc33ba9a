"""L4: one virtual service per LoadBalancer Service (or per shared-VIP group), kept in step.

A key is `l4:<vs name>`; `l4clear:<ns>/<name>` clears the status akod wrote on a Service that is
no longer ours. The family's index remembers which Services feed which key, so that an event
marks exactly the keys it can change: a Service's new key and its old one (a type, class or
shared-VIP change moves it), the key of the Service an endpoints object belongs to, every key of
a namespace whose labels changed, every key when a Node changes in NodePort mode, the keys of the
Services that select a Pod (NodePortLocal mode, through the cache's selector index).

Syncing a key: translate (pure, `akod.model.l4`), report problems, apply the objects (ordered,
journaled), then write the VIP and FQDN back to each Service's status. A write-back Kubernetes
refuses (a 422 for annotations over 256 KiB, say) is a problem of that Service like any other
(`StatusWriter`): shown, posted as an Event, and written again only once the Service changes.
Bad input that leaves
nothing to serve holds the key: whatever was applied stays (a typo must not take a working
Service offline). A Service that stops being ours (deleted, type or class changed, namespace
deselected) loses its objects and gets its status cleared, but only a status this daemon wrote
(`statusclaims.py`): another cluster's daemon may serve that Service now.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from akod.avi import AviClient
from akod.model.l4 import L4Context, l4_key, translate_l4
from akod.model.l4context import KEY_PREFIX
from akod.model.l4rule import KIND as L4RULE
from akod.model.objects import AviObject
from akod.model.problems import ObjectRef, Problem
from akod.store import Applied
from akod.sync.cluster import Change, Ident
from akod.sync.contexts import Contexts
from akod.sync.suspects import Ident as AviIdent
from akod.sync.suspects import Suspect
from akod.sync.families.l4rules import L4RuleIndex
from akod.sync.family import DONE, Inputs, Outcome, PlannedChange, SyncIO, Translation
from akod.sync.keysync import apply_translation
from akod.sync.objects import describe_objects, diff_owned
from akod.sync.statusclaims import StatusClaims
from akod.sync.writeback import StatusWriter

log = logging.getLogger("akod.sync")
KIND = KEY_PREFIX.rstrip(":")
CLEAR = "l4clear"


def _fingerprint(body: Mapping[str, Any]) -> dict[str, Any]:
    """What of a Service the translation reads: everything but what akod writes back itself."""
    return {k: v for k, v in body.items() if k not in ("lb_ingress", "fqdn_map", "npl_enabled", "npl_marker")}


def _service(ident: Ident) -> ObjectRef:
    return ObjectRef(kind="Service", namespace=ident[0], name=ident[1])


def _field_for(obj: AviObject) -> str:
    if obj.obj_type == "vsvip":
        return "spec.loadBalancerIP"
    if obj.obj_type == "pool":
        return "spec.ports"
    return "metadata.name"


class L4Family:
    name = "l4"
    key_kinds = frozenset({KIND, CLEAR})
    resources: tuple[str, ...] = ("namespaces", "nodes", "services", "endpoints")
    subject_kind = "Service"
    own_journal = False

    def __init__(self, *, inputs: Inputs, contexts: Contexts, io: SyncIO | None) -> None:
        self._in = inputs
        self._contexts = contexts
        self._io = io
        self.key_of: dict[Ident, str] = {}
        self.members: dict[str, set[Ident]] = {}
        self._fingerprint: dict[Ident, dict[str, Any]] = {}
        self._problem_holders: dict[str, set[Ident]] = {}
        self.claims = StatusClaims()
        self._status = StatusWriter()
        self._acting: dict[str, Mapping[str, ObjectRef]] = {}  # key -> Service name -> the L4Rule acting on it
        self._l4rules = L4RuleIndex(crs=inputs.crs, services=lambda: self._in.cluster.services, key_of=self.key_of,
                                    present=lambda: self._in.cluster.other.get(L4RULE, {}))

    def _ctx(self) -> L4Context:
        i = self._in
        return self._contexts.l4(settings=i.settings, controller=i.controller, controller_version=i.controller_version)

    # -- keys ----------------------------------------------------------------------------------

    def _assign(self, svc: Ident, key: str | None) -> str | None:
        old = self.key_of.pop(svc, None)
        if old is not None:
            group = self.members.get(old)
            if group is not None:
                group.discard(svc)
                if not group:
                    del self.members[old]
        if key is not None:
            self.key_of[svc] = key
            self.members.setdefault(key, set()).add(svc)
        return old

    def _key_for(self, body: Mapping[str, Any], ctx: L4Context) -> str | None:
        labels = self._in.cluster.namespace_labels.get(str(body.get("namespace", "")))
        return l4_key(service=body, namespace_labels=labels, ctx=ctx)

    def _services_changed(self, idents: Iterable[Ident], *, recheck: bool = False) -> set[str]:
        services = self._in.cluster.services
        ctx = self._ctx()
        keys: set[str] = set()
        for ident in idents:
            body = services.get(ident)
            refused_before = self._status.forget(_service(ident))  # changed: a refused write-back is tried again
            if body is None:
                self._fingerprint.pop(ident, None)
                old = self._assign(ident, None)
                if old is not None:
                    keys.add(old)
                continue
            new = self._key_for(body, ctx)
            fingerprint = _fingerprint(body)
            if not recheck and self.key_of.get(ident) == new and self._fingerprint.get(ident) == fingerprint:
                if refused_before and new is not None:
                    keys.add(new)  # e.g. the annotation that made Kubernetes refuse the map was removed
                continue  # only what akod itself wrote (status, FQDN map) changed: nothing to sync
            self._fingerprint[ident] = fingerprint
            old = self._assign(ident, new)
            keys |= {k for k in (old, new) if k is not None}
            if new is None and old is not None and (body.get("lb_ingress") or body.get("fqdn_map")):
                self.claims.release(ident)
                keys.add(f"{CLEAR}:{ident[0]}/{ident[1]}")
        return keys

    async def on_change(self, change: Change) -> set[str]:
        if change.kind == "Service":
            return self._services_changed(change.idents())
        if change.kind in ("Endpoints", "EndpointSlice"):
            services = {(o.namespace, str(o.body.get("service", ""))) for o in (*change.upserts, *change.deleted)}
            return {self.key_of[s] for s in services if s in self.key_of}
        if change.kind == "Namespace":
            labels = self._in.cluster.namespace_labels
            moved = {name for (_, name) in change.idents() if change.before.get(("", name)) != labels.get(name)}
            return self._services_changed([s for s in self._in.cluster.services if s[0] in moved], recheck=True)
        if change.kind == "Node" and self._in.settings.l7.service_type == "NodePort":
            return set(self.members)
        if change.kind == "Pod":
            return {self.key_of[s] for s in self._in.cluster.services_of_pods(change) if s in self.key_of}
        if change.kind == L4RULE:
            return self._l4rules.on_change(change)
        return set()

    def wanted_keys(self) -> set[str]:
        """Every L4 key, plus a status clean-up for each Service that is not ours but shows our status."""
        clear = {f"{CLEAR}:{ns}/{name}" for (ns, name), body in self._in.cluster.services.items()
                 if self.key_of.get((ns, name)) is None and self.claims.ours((ns, name), body)}
        return set(self.members) | clear

    def reassign(self) -> set[str]:
        return self._services_changed(list(self._in.cluster.services), recheck=True) | set(self.members)

    def adopts(self, applied: Applied) -> str | None:
        return None  # an L4 virtual service nothing wants goes

    def summary(self) -> dict[str, Any]:
        return {"l4_virtual_services": len(self.members)}

    def applied_rebuilt(self, *, inventory: Sequence[Applied]) -> None:
        self.claims.learn(inventory)

    def drifted(self, key: str, found: Mapping[AviIdent, Suspect]) -> None:
        if self._io is not None:
            self._io.owned.suspect(key, found)

    # -- one key ---------------------------------------------------------------------------------

    async def translate(self, key: str) -> Translation:
        if key.startswith(f"{CLEAR}:"):
            return Translation(key=key)
        cluster = self._in.cluster
        members = sorted(self.members.get(key, set()))
        services = [cluster.services[m] for m in members if m in cluster.services]
        endpoints = {name: cluster.endpoints_of((ns, name)) for ns, name in members}
        pods = {name: cluster.pods_of((ns, name)) for ns, name in members} if cluster.pods else {}
        result = translate_l4(key=key, services=services, endpoints=endpoints, nodes=cluster.node_bodies(),
                              ctx=self._ctx(), pods=pods, l4rules=self._l4rules.accepted())
        scope = frozenset(ObjectRef(kind="Service", namespace=ns, name=n) for ns, n in members)
        return Translation(key=key, objects=result.objects, problems=result.problems, scope=scope,
                           hold=bool(result.problems) and not result.objects, detail=result)

    async def sync(self, key: str) -> Outcome:
        if key.startswith(f"{CLEAR}:"):
            return await self._clear(key)
        io = self._io
        assert io is not None, "sync runs in the daemon only"
        t = await self.translate(key)
        members = {(r.namespace, r.name) for r in t.scope}
        holders = self._problem_holders.get(key, set()) | members
        self._problem_holders[key] = {(p.obj.namespace, p.obj.name) for p in t.problems}
        reported: list[Problem] = []

        async def report(problems: Iterable[Problem]) -> None:
            reported[:] = list(problems)
            found = [*reported, *self._refusals(members)]
            self._problem_holders[key] |= {(p.obj.namespace, p.obj.name) for p in found}
            await io.reporter.replace(kind="Service", problems=found, names=holders)

        outcome, applied = await apply_translation(io=io, translation=t, report=report, field_of=_field_for)
        if t.detail is not None:
            self._acting[key] = t.detail.l4_rules
            await self._l4rules.warn(kube=io.kube, found=t.detail.l4rule_notes)
        if outcome.done and t.objects:
            refused = self._refusals(members)
            await self._write_status(t, applied)
            if self._refusals(members) != refused:
                await report(list(reported))
        return outcome

    def _refusals(self, members: Iterable[Ident]) -> list[Problem]:
        return [p for ident in sorted(members) for p in self._status.problems_of(_service(ident))]

    async def _write_status(self, t: Translation, applied: Mapping[tuple[str, str, str], Applied]) -> None:
        kube = self._io.kube if self._io is not None else None
        if kube is None:
            return
        result = t.detail
        vsvip = next((a for (typ, _, _), a in applied.items() if typ == "vsvip"), None)
        vs = next((a for (typ, _, _), a in applied.items() if typ == "virtualservice"), None)
        vips = list((vsvip.info if vsvip else {}).get("vips") or [])
        served = set(result.served)
        for ident in sorted(self.members.get(t.key, set())):
            body = self._in.cluster.services.get(ident)
            if body is None or ident[1] not in served:
                continue
            fqdn = result.hostnames.get(ident[1], "")
            ingress = [{"ip": ip, **({"hostname": fqdn} if fqdn else {})} for ip in vips]
            vs_uuid = vs.uuid if vs else ""
            self.claims.wrote([vs_uuid])
            await self._status.write(kube=kube, obj=_service(ident), body=body, ingress=ingress,
                                     fqdn_map={fqdn: vs_uuid} if fqdn and vs_uuid else {},
                                     event=f"Added virtualservice {result.vs_name} for {ident[1]} with VIP "
                                           f"{', '.join(vips)}")

    async def _clear(self, key: str) -> Outcome:
        """`l4clear:<ns>/<name>`: a Service that is no longer ours loses the status we wrote."""
        ns, _, name = key.split(":", 1)[1].partition("/")
        io = self._io
        body = self._in.cluster.services.get((ns, name))
        if io is None or io.kube is None or body is None or self.key_of.get((ns, name)) is not None:
            return DONE
        if not self.claims.ours((ns, name), body):
            return DONE  # another daemon's status (or none): not ours to clear
        refused = await self._status.write(kube=io.kube, obj=_service((ns, name)), body=body, ingress=[],
                                           fqdn_map={})
        await io.reporter.replace(kind="Service", problems=refused, names={(ns, name)})
        if not refused:
            self.claims.cleared((ns, name))
        return DONE

    # -- plan and /objects -------------------------------------------------------------------------

    async def plan(self, translation: Translation, *, have: Mapping[tuple[str, str], Applied],
                   client: AviClient) -> list[PlannedChange]:
        owner = ", ".join(f"Service {r.namespace}/{r.name}" for r in sorted(translation.scope, key=str))
        rules = sorted({str(r) for r in getattr(translation.detail, "l4_rules", {}).values()})
        if rules:
            owner += f" (with {', '.join(rules)})"  # what an L4Rule would change shows as its doing
        return diff_owned(translation=translation, have=have, owner=owner)

    async def describe(self, ref: ObjectRef) -> dict[str, Any] | None:
        key = self.key_of.get((ref.namespace, ref.name))
        if key is None or self._io is None:
            return None
        acting = self._acting.get(key, {}).get(ref.name)
        return {"key": key, "avi_objects": await describe_objects(store=self._io.store, key=key, subject=ref),
                "custom_resources": [{"kind": acting.kind, "namespace": acting.namespace, "name": acting.name}]
                if acting is not None else []}
