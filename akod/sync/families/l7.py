"""L7: the shared virtual services (one per shard) kept in step with the Ingresses.

A key is `l7:<shard vs name>` (`l7:<cluster>--Shared-L7-<n>`, or one per host in DEDICATED mode).
Everything the hosts of a shard need belongs to its key: pools, SNI children, certificates, their
pool groups and policy sets, and the shard's VIP, VS and policy set. `l7clear:<ns>/<name>` is the
key of an Ingress that no shard serves (not ours any more, deleted, or ours without a host): its
problems are reported there and the status akod wrote is cleared (only a status this daemon wrote:
another daemon may serve that Ingress, see `statusclaims.py`).

Syncing a key: translate (pure, `akod.model.l7`), record the problems of its Ingresses (gathered
across every shard an Ingress spans), apply the objects (the shard's policy set by PATCH of the
changed hosts only), then write each Ingress's status: `{ip: shard VIP, hostname: host}` per
served host. When the controller refuses the content of a write (400, 422), the paths of the
Ingress and host that cause it are found and left out (`l7isolation`), and the shard is applied
without them, so one Ingress never costs the other hosts of its shard. A status Kubernetes refuses
is a problem of its Ingress (`StatusWriter`). An Ingress's status is written once every shard it
spans has been synced since start, so a restart never shows half a status. The shard's VIP and VS stay when its last host
goes (a stable VIP for DNS; `adopts` keeps them across restarts too); only `akod cleanup` removes
them. A dedicated VS goes with its last host, as in AKO.

Secret material lives only in this process (the cluster cache); the store keeps a digest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from akod.avi import AviClient, AviError
from akod.model.hostrule import KIND as HOSTRULE
from akod.model.infrasetting import KIND as INFRA
from akod.model.infrasetting_apply import held_ingress, ingress_infra, l7_context
from akod.model.httprule import KIND as HTTPRULE
from akod.model.l7 import L7_KEY_PREFIX, L7Context, hostless_problems, ingress_accepted, keys_of_ingress, translate_l7
from akod.model.l7context import Unit, ingress_age
from akod.model.l7names import is_default_shard, shard_key, vs_name_of_key
from akod.model.objects import Role
from akod.model.problems import ObjectRef, Problem
from akod.store import Applied
from akod.sync.cluster import Change
from akod.sync.contexts import Contexts
from akod.sync.families.infraindex import AcceptedInfra, names_of
from akod.sync.families.l7hostrules import L7HostRules
from akod.sync.families.l7httprules import L7HTTPRules
from akod.sync.families.l7index import IngId, L7Index, backends_of, fingerprint, secrets_of
from akod.sync.families.l7isolation import Exclusions, Trial, isolate, refusal_problem
from akod.sync.family import DONE, Inputs, Outcome, PlannedChange, SyncIO, Translation, requeue
from akod.sync.keysync import rejection_problems
from akod.sync.objects import describe_objects, diff_owned
from akod.sync.owned import Ident, ObjectRejected
from akod.sync.statusclaims import StatusClaims
from akod.sync.suspects import Suspect
from akod.sync.writeback import StatusWriter, write_each

log = logging.getLogger("akod.sync")
KIND = L7_KEY_PREFIX.rstrip(":")
CLEAR = "l7clear"
# What one synced key serves, per Ingress: (host, VIP, uuid of the VS that serves the host).
Served = dict[IngId, list[tuple[str, str, str]]]


def _ref(ing: IngId) -> ObjectRef:
    return ObjectRef(kind="Ingress", namespace=ing[0], name=ing[1])


def _clear_key(ing: IngId) -> str:
    return f"{CLEAR}:{ing[0]}/{ing[1]}"


@dataclass(frozen=True)
class Isolated:
    """The trial a sync ends with, and whether the search for refused units must go on."""

    trial: Trial
    exhausted: bool = False

    @property
    def translation(self) -> Translation:
        return self.trial.translation

    @property
    def applied(self) -> dict[Ident, Applied] | None:
        return self.trial.applied

    @property
    def rejection(self) -> ObjectRejected | None:
        return self.trial.rejection


class L7Family:
    name = "l7"
    key_kinds = frozenset({KIND, CLEAR})
    resources: tuple[str, ...] = ("namespaces", "nodes", "services", "endpoints", "ingressclasses", "ingresses", "secrets")
    subject_kind = "Ingress"
    own_journal = False

    def __init__(self, *, inputs: Inputs, contexts: Contexts, io: SyncIO | None) -> None:
        self._in = inputs
        self._contexts = contexts
        self._io = io
        self.index = L7Index()
        self.served: dict[str, Served] = {}
        self._shelled: set[str] = set()  # keys whose shared VS exists: kept even with no host left
        self._problems: dict[str, dict[IngId, list[Problem]]] = {}  # key -> Ingress -> its problems there
        self.claims = StatusClaims()
        self._excluded = Exclusions()  # units the controller refused, per key, until their Ingress changes
        self._status = StatusWriter()
        self._acting: dict[str, Mapping[str, ObjectRef]] = {}  # key -> host -> the HostRule acting on it
        self._hostrules = L7HostRules(crs=inputs.crs, index=self.index, ingresses=lambda: self._in.cluster.ingresses,
                                      key_of=self._key_of_host,
                                      present=lambda: self._in.cluster.other.get(HOSTRULE, {}))
        self._infra = AcceptedInfra(crs=inputs.crs, present=lambda: self._in.cluster.other.get(INFRA, {}))
        self._key_infra: dict[str, str] = {}  # key -> the AviInfraSetting whose class it serves ("" = none)
        inputs.crs.affects(INFRA, self._infra_keys)
        self._http_acting: dict[str, Mapping[str, tuple[ObjectRef, ...]]] = {}  # key -> host -> HTTPRules
        self._httprules = L7HTTPRules(crs=inputs.crs, index=self.index, ingresses=lambda: self._in.cluster.ingresses,
                                      key_of=self._key_of_host,
                                      present=lambda: self._in.cluster.other.get(HTTPRULE, {}))

    def _ctx(self) -> L7Context:
        i = self._in
        return self._contexts.l7(settings=i.settings, controller=i.controller, controller_version=i.controller_version,
                                 ingress_classes="ingressclasses" not in i.unserved)

    def _ctx_of(self, body: Mapping[str, Any]) -> tuple[L7Context, tuple[Problem, ...]]:
        """The context of an Ingress (its class's AviInfraSetting's), or why it is held back."""
        base = self._ctx()
        name, class_name = ingress_infra(body, self._in.cluster.classes, self._in.cluster.namespace_infra)
        if not name:
            return base, ()
        effect, why = self._infra.settings().resolve(name)
        if why:
            return base, (held_ingress(body, class_name=class_name, infra=name, why=why),)
        return l7_context(base, effect), ()

    def _ctx_of_key(self, key: str) -> L7Context:
        name = self._key_infra.get(key, "")
        if not name:
            return self._ctx()
        return l7_context(self._ctx(), self._infra.settings().effects.get(name), name=name)

    def _infra_keys(self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> set[str]:
        """An AviInfraSetting's effect changed: its class's Ingresses move (old and new keys)."""
        names = names_of(old, new)
        classes = self._in.cluster.classes
        moved = [i for i, b in self._in.cluster.ingresses.items() if ingress_infra(b, classes, self._in.cluster.namespace_infra)[0] in names]
        return self._ingresses_changed(moved, recheck=True)

    # -- keys ------------------------------------------------------------------------------------

    def _ingresses_changed(self, idents: Iterable[IngId], *, recheck: bool = False) -> set[str]:
        ingresses = self._in.cluster.ingresses
        marked: set[str] = set()
        for ing in idents:
            body = ingresses.get(ing)
            refused_before = self._status.forget(_ref(ing))  # changed: a refused status is tried again
            if body is None:
                marked |= self.index.forget(ing)
                marked.add(_clear_key(ing))
                continue
            labels = self._in.cluster.namespace_labels.get(ing[0])
            ctx, held = self._ctx_of(body)
            ours = ingress_accepted(ingress=body, classes=self._in.cluster.classes, namespace_labels=labels, ctx=ctx)
            keys = keys_of_ingress(ingress=body, ctx=ctx) if ours and not held else frozenset()
            hostless = (held or hostless_problems(ingress=body, ctx=ctx)) if ours and not keys else ()
            for key in keys:
                self._key_infra[key] = ctx.infra
            print_ = fingerprint(body)
            if (not recheck and self.index.keys_of.get(ing, frozenset()) == keys
                    and self.index.fingerprint.get(ing) == print_ and self.index.hostless.get(ing, ()) == hostless):
                if refused_before:
                    marked |= keys or {_clear_key(ing)}
                continue  # only what akod itself wrote (status, FQDN map) changed: nothing to sync
            self.index.fingerprint[ing] = print_
            if hostless:
                self.index.hostless[ing] = hostless
            else:
                self.index.hostless.pop(ing, None)
            self.index.link(ing, body)
            old = self.index.assign(ing, keys)
            marked |= old | keys
            if not keys:  # no shard reports on it: say why it is not served, clear what we wrote
                if old:
                    self.claims.release(ing)
                marked.add(_clear_key(ing))
        return marked

    async def on_change(self, change: Change) -> set[str]:
        kind = change.kind
        if kind == "Ingress":
            return self._ingresses_changed(change.idents())
        if kind == "IngressClass":
            return self.reassign()
        if kind == INFRA:  # one appeared, went, or its status changed: the Ingresses of its classes look again
            names = {name for _, name in change.idents()}
            classes = self._in.cluster.classes
            return self._ingresses_changed([i for i, b in self._in.cluster.ingresses.items()
                                            if ingress_infra(b, classes, self._in.cluster.namespace_infra)[0] in names], recheck=True)
        if kind == "Namespace":
            names = {name for _, name in change.idents()}
            return self._ingresses_changed([i for i in self._in.cluster.ingresses if i[0] in names], recheck=True)
        if kind == "Secret":
            return self.index.keys_using(change.idents()) | self._hostrules.keys_for_secrets(change.idents())
        if kind == "Service":
            return self.index.keys_using(change.idents())
        if kind in ("Endpoints", "EndpointSlice"):
            return self.index.keys_using((o.namespace, str(o.body.get("service", "")))
                                         for o in (*change.upserts, *change.deleted))
        if kind == "Node" and self._in.settings.l7.service_type == "NodePort":
            return set(self.index.members)
        if kind == "Pod":
            return self.index.keys_using(self._in.cluster.services_of_pods(change))
        return set()

    def reassign(self) -> set[str]:
        return self._ingresses_changed(list(self._in.cluster.ingresses), recheck=True)

    def _key_of_host(self, host: str) -> str:
        ctx = self._ctx()
        return shard_key(cluster=ctx.cluster, host=host, shards=ctx.shards)

    def wanted_keys(self) -> set[str]:
        """Every key with an Ingress, and a clean-up for each Ingress no shard serves that needs one."""
        clear = {_clear_key(ing) for ing, body in self._in.cluster.ingresses.items()
                 if not self.index.keys_of.get(ing) and (self.claims.ours(ing, body) or ing in self.index.hostless)}
        return set(self.index.members) | clear

    def adopts(self, applied: Applied) -> str | None:
        """A shard's shared VS found on the controller stays (with its VIP) although no host uses it."""
        if (applied.obj_type == "virtualservice" and applied.role == Role.SHARD_VS and not self._ctx().dedicated
                and is_default_shard(applied.name, cluster=self._ctx().cluster)):
            self._shelled.add(f"{L7_KEY_PREFIX}{applied.name}")
            return f"{L7_KEY_PREFIX}{applied.name}"
        return None

    def summary(self) -> dict[str, Any]:
        return {"l7_keys": len(self.index.members), "ingresses_served": len(self.index.keys_of),
                "l7_units_left_out": self._excluded.count()}

    def applied_rebuilt(self, *, inventory: Sequence[Applied]) -> None:
        self.claims.learn(inventory)

    def drifted(self, key: str, found: Mapping[Ident, Suspect]) -> None:
        if self._io is not None:
            self._io.owned.suspect(key, found)

    # -- one key ---------------------------------------------------------------------------------

    async def translate(self, key: str, *, leave_out: frozenset[Unit] = frozenset()) -> Translation:
        """The key's objects, without the units the controller refused (and `leave_out`, a trial's)."""
        if key.startswith(f"{CLEAR}:"):
            return self._translate_clear(key)
        excluded = self._excluded.standing(key, self.index.fingerprint)
        cluster = self._in.cluster
        ctx = self._ctx_of_key(key)
        infra_key = bool(ctx.infra)  # an AviInfraSetting's shards go with their last host
        members = sorted(self.index.members.get(key, set()))
        ingresses = [cluster.ingresses[i] for i in members if i in cluster.ingresses]
        backends: set[tuple[str, str]] = set().union(*(backends_of(b) for b in ingresses))
        host_rules = self._hostrules.accepted()
        secret_refs: set[tuple[str, str]] = set().union(*(secrets_of(b) for b in ingresses)) | host_rules.secret_refs()
        if key not in self._shelled and not ctx.dedicated and not infra_key:
            found = await self._in.applied("virtualservice", ctx.tenant, vs_name_of_key(key))
            if found is not None:
                self._shelled.add(key)
        result = translate_l7(
            key=key, ingresses=ingresses, ctx=ctx, keep_shell=key in self._shelled and not infra_key,
            nodes=cluster.node_bodies(),
            services={ref: cluster.services[ref] for ref in backends if ref in cluster.services},
            endpoints={ref: cluster.endpoints_of(ref) for ref in backends},
            secrets={ref: cluster.secrets[ref] for ref in secret_refs if ref in cluster.secrets},
            leave_out=frozenset(excluded) | leave_out,
            pods={ref: cluster.pods_of(ref) for ref in backends} if cluster.pods else {},
            host_rules=host_rules, http_rules=self._httprules.accepted())
        problems = (*result.problems, *(why.problem for _, why in sorted(excluded.items())))
        return Translation(key=key, objects=result.objects, problems=problems,
                           scope=frozenset(_ref(m) for m in members), detail=result)

    def _translate_clear(self, key: str) -> Translation:
        ns, _, name = key.split(":", 1)[1].partition("/")
        ing = (ns, name)
        if self.index.keys_of.get(ing):
            return Translation(key=key)  # a shard serves it again: that shard reports on it
        return Translation(key=key, problems=self.index.hostless.get(ing, ()), scope=frozenset({_ref(ing)}))

    async def sync(self, key: str) -> Outcome:
        io = self._io
        assert io is not None, "sync runs in the daemon only"
        t = await self.translate(key)
        if key.startswith(f"{CLEAR}:"):
            return await self._clear(t)
        members = sorted((r.namespace, r.name) for r in t.scope)

        try:
            final = await self._isolating(key, first=await self._attempt(t))
        except AviError as exc:  # the controller does not answer as it should: the engine retries
            await self._report(key=key, members=members, problems=t.problems)
            return requeue(reason=f"{type(exc).__name__}: {exc}")
        t, applied, refusal = final.translation, final.applied, final.rejection
        if refusal is not None or applied is None:
            assert refusal is not None
            scope = sorted(t.scope, key=lambda r: (r.namespace, r.name))
            await self._report(key=key, members=members,
                               problems=[*t.problems, *rejection_problems(exc=refusal, scope=scope, field="spec")])
            return requeue(reason=str(refusal))
        await self._report(key=key, members=members, problems=t.problems)
        result = t.detail
        self._acting[key] = result.host_rules
        self._http_acting[key] = result.http_rules
        await self._hostrules.warn(kube=io.kube, found=result.hostrule_not_applied)
        if not self._ctx().dedicated and not self._key_infra.get(key) and any(o.role == Role.SHARD_VS
                                                                              for o in t.objects):
            self._shelled.add(key)
        vsvip = next((a for (typ, _, n), a in applied.items() if typ == "vsvip" and n == result.vs_name), None)
        vips = list((vsvip.info if vsvip else {}).get("vips") or [])
        uuids = {n: a.uuid for (typ, _, n), a in applied.items() if typ == "virtualservice"}
        before = set(self.served.get(key, {}))
        self.served[key] = {ing: [(host, vips[0] if vips else "", uuids.get(vs, "")) for host, vs in hosts]
                            for ing, hosts in result.served.items()}
        written = sorted(before | set(self.served[key]) | set(members))
        refused = {ing: self._status.problems_of(_ref(ing)) for ing in written}
        await write_each(written, self._write_status)
        changed = {ing for ing in written if self._status.problems_of(_ref(ing)) != refused[ing]}
        if changed:
            await self._show(changed)
        if final.exhausted:
            return requeue(reason="still looking for the paths the controller refuses")
        return DONE

    # -- refusals: find who, leave them out ------------------------------------------------------

    async def _attempt(self, t: Translation) -> Trial:
        """Apply one translation of the key; a refusal is the trial's answer, not an exception."""
        assert self._io is not None
        try:
            return Trial(translation=t, applied=await self._io.owned.apply(key=t.key, objects=t.objects))
        except ObjectRejected as exc:
            return Trial(translation=t, rejection=exc)

    async def _isolating(self, key: str, *, first: Trial) -> Isolated:
        """`first`, or when the controller refused it, the apply without the units that it refuses."""
        if first.ok:
            return Isolated(first)
        fields = dict(first.result.unit_fields)
        cluster = self._in.cluster

        def exclude(unit: Unit, exc: ObjectRejected) -> None:
            field = fields.get(unit, "spec.rules")
            self._excluded.add(key, unit, fingerprint=self.index.fingerprint.get((unit[0], unit[1]), ""),
                               problem=refusal_problem(unit=unit, exc=exc, field=field))

        async def attempt(extra: frozenset[Unit]) -> Trial:
            return await self._attempt(await self.translate(key, leave_out=extra))

        def order(unit: Unit) -> tuple[tuple[str, str, str], str]:
            return ingress_age(cluster.ingresses.get((unit[0], unit[1])) or {}), unit[2]

        done = await isolate(failure=first, attempt=attempt, known_good=self._known_good, order=order, exclude=exclude)
        return Isolated(done.trial, exhausted=done.exhausted)

    async def _known_good(self, trial: Trial, unit: Unit) -> bool:
        """Whether everything made for `unit`, its rules included, is on the controller as desired now."""
        result = trial.result
        for ident in trial.made_for(unit):
            obj = trial.desired(ident)
            if obj is not None:
                have = await self._in.applied(obj.obj_type, obj.tenant, obj.name)
                if have is None or have.checksum != obj.checksum:
                    return False
        policy = trial.desired(("httppolicyset", result.vs_name))
        if policy is None:
            return True
        have = await self._in.applied(policy.obj_type, policy.tenant, policy.name)
        if have is None:
            return False
        group = result.rule_groups.get(unit[2])
        if group is None:  # a dedicated VS's policy set is written whole
            return have.checksum == policy.checksum
        return group in (have.info.get("groups") or {})

    # -- problems and status ---------------------------------------------------------------------

    async def _report(self, *, key: str, members: Sequence[IngId], problems: Sequence[Problem]) -> None:
        """Show each Ingress's problems from all the keys it spans (one key's sync must not hide another's)."""
        mine: dict[IngId, list[Problem]] = {}
        for p in problems:
            mine.setdefault((p.obj.namespace, p.obj.name), []).append(p)
        names = set(self._problems.get(key, {})) | set(members) | set(mine)
        self._problems[key] = mine
        await self._show(names)

    async def _show(self, names: set[IngId]) -> None:
        """Make the store hold, for each of `names`, its problems of every key and its refused status."""
        assert self._io is not None
        combined = [p for ing in sorted(names) for per_key in self._problems.values() for p in per_key.get(ing, ())]
        combined += [p for ing in sorted(names) for p in self._status.problems_of(_ref(ing))]
        await self._io.reporter.replace(kind="Ingress", problems=list(dict.fromkeys(combined)), names=names)

    async def _write_status(self, ing: IngId) -> None:
        body = self._in.cluster.ingresses.get(ing)
        kube = self._io.kube if self._io is not None else None
        if body is None or kube is None:
            return
        keys = self.index.keys_of.get(ing, frozenset())
        if not keys or any(k not in self.served for k in keys):
            return  # another shard of this Ingress has not been synced yet: it writes the status
        served = sorted({entry for k in keys for entry in self.served[k].get(ing, [])})
        ingress = [{"ip": ip, "hostname": host} for host, ip, _ in served if ip]
        fqdn_map = {host: uuid for host, _, uuid in served if uuid}
        self.claims.wrote(fqdn_map.values())
        hosts = ", ".join(e["hostname"] for e in ingress)
        await self._status.write(kube=kube, obj=_ref(ing), body=body, ingress=ingress, fqdn_map=fqdn_map,
                                 event=f"Added virtualservice for {ing[1]}: {hosts}")

    async def _clear(self, t: Translation) -> Outcome:
        """An Ingress no shard serves: its own problems (or none) shown, the status we wrote cleared."""
        io = self._io
        assert io is not None
        if not t.scope:
            return DONE
        ref = next(iter(t.scope))
        body = self._in.cluster.ingresses.get((ref.namespace, ref.name))
        ing = (ref.namespace, ref.name)
        refused: tuple[Problem, ...] = ()
        if (body is not None and io.kube is not None and (body.get("lb_ingress") or body.get("fqdn_map"))
                and self.claims.ours(ing, body)):  # not another daemon's status
            refused = await self._status.write(kube=io.kube, obj=ref, body=body, ingress=[], fqdn_map={})
            if not refused:
                self.claims.cleared(ing)
        await io.reporter.replace(kind="Ingress", problems=[*t.problems, *refused],
                                  names={(ref.namespace, ref.name)})
        return DONE

    # -- plan and /objects -------------------------------------------------------------------------

    async def plan(self, translation: Translation, *, have: Mapping[tuple[str, str], Applied],
                   client: AviClient) -> list[PlannedChange]:
        owner = (", ".join(f"Ingress {r.namespace}/{r.name}" for r in sorted(translation.scope, key=str))
                 or "the shared VIP (kept)")
        rules = sorted({str(r) for r in getattr(translation.detail, "host_rules", {}).values()}
                       | {str(r) for refs in getattr(translation.detail, "http_rules", {}).values() for r in refs})
        if self._key_infra.get(translation.key):  # the shards of an AviInfraSetting's class
            rules.append(f"AviInfraSetting {self._key_infra[translation.key]}")
        if rules:
            owner += f" (with {', '.join(rules)})"  # what a HostRule would change shows as its doing
        return diff_owned(translation=translation, have=have, owner=owner)

    async def describe(self, ref: ObjectRef) -> dict[str, Any] | None:
        ing = (ref.namespace, ref.name)
        keys = sorted(self.index.keys_of.get(ing, ()))
        if not keys or self._io is None:
            return None
        served = sorted({(host, ip) for key in keys for host, ip, _ in self.served.get(key, {}).get(ing, [])})
        made = [m for key in keys for m in await describe_objects(store=self._io.store, key=key, subject=ref)]
        hosts = {h for h, _ in served}
        acting = sorted({(r.kind, r.namespace, r.name, h) for key in keys
                         for h, r in self._acting.get(key, {}).items() if h in hosts}
                        | {(r.kind, r.namespace, r.name, h) for key in keys
                           for h, refs in self._http_acting.get(key, {}).items() if h in hosts
                           for r in refs if r.namespace == ref.namespace})
        custom = [{"kind": k, "namespace": ns, "name": n, "host": h} for k, ns, n, h in acting]
        custom += [{"kind": INFRA, "namespace": "", "name": name}
                   for name in sorted({self._key_infra.get(k, "") for k in keys} - {""})]
        return {"keys": keys, "hosts": [{"host": h, "vip": ip} for h, ip in served], "avi_objects": made,
                "custom_resources": custom}
