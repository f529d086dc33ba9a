"""AviInfraSetting: AKO's placement of a class's objects (SE group, networks), judged and recorded.

A key is `aviinfrasetting:<name>` (the CR is cluster-scoped). The family makes no controller
object: its sync decides whether the AviInfraSetting is accepted (`akod.model.infrasetting`: the
fields; the SE group and every named network existing on the controller, one paced GET by name
each, as `RefChecker` does; the SE group not labelled for another cluster), learns the networks'
VRF and subnets (`akod.sync.infrafacts`), writes `status.status`/`status.error` (only when
Kubernetes shows something else, only as the leader), and records the accepted spec with those
facts as its effect (`CrState`, kept in the state database). The L7 and L4 families apply the
effects (`akod.model.infrasetting_apply`) and register which of their keys an effect change
touches (`families/infraindex.py`); this family marks exactly those when an effect changes.

The SE group is labelled as the default one is (`discovery.ensure_se_group_label`: the label
`clustername=<cluster>`, only with static routes on, the same code path): AKO does the same when
it accepts an AviInfraSetting (`addSeGroupLabel`), and rejects one whose SE group carries another
cluster's label.

A rejected AviInfraSetting changes nothing; an accepted one edited into something invalid keeps
its last accepted effect (across restarts too); deleting it removes the effect. One rejected for a
missing SE group or network is checked again every `[sync] drift_check_s`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from akod.avi import AviClient, AviError
from akod.kube.status import NotRouted
from akod.model.checksums import checksum
from akod.model.crs import AviRef, missing_ref, status_of
from akod.model.infrasetting import KIND, MODELS, InfraEffect, parse_infrasetting
from akod.model.problems import ObjectRef, Problem
from akod.model.routes import CLUSTER_LABEL
from akod.store import Applied, CrEffect
from akod.sync.cluster import Change
from akod.sync.contexts import Contexts
from akod.sync.crs import Ident
from akod.sync.discovery import ADMIN, ControllerMismatch, ensure_se_group_label, routes_enabled, se_group_owner
from akod.sync.family import DONE, Inputs, Outcome, PlannedChange, SyncIO, Translation, requeue
from akod.sync.infrafacts import first_subnet, ref_name
from akod.sync.suspects import Suspect

log = logging.getLogger("akod.sync")
KEY_KIND = "aviinfrasetting"
Body = dict[str, Any]


def key_of(ident: Ident) -> str:
    return f"{KEY_KIND}:{ident[1]}"


def ident_of(key: str) -> Ident:
    return "", key.split(":", 1)[1]


def spec_checksum(body: Mapping[str, Any]) -> str:
    return checksum({"spec": body.get("spec") or {}, "created": body.get("created", "")})


@dataclass(frozen=True)
class Decision:
    ref: ObjectRef
    body: Body | None
    effect: InfraEffect | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    unsupported: tuple[str, ...] = ()
    missing_refs: bool = False
    se_group: Mapping[str, Any] | None = None  # the SE group to label (routes on, not labelled yet)


class InfraSettingFamily:
    name = "aviinfrasetting"
    key_kinds = frozenset({KEY_KIND})
    resources: tuple[str, ...] = ("aviinfrasettings",)
    subject_kind = KIND
    own_journal = False

    def __init__(self, *, inputs: Inputs, contexts: Contexts, io: SyncIO | None) -> None:
        self._in = inputs
        self._io = io
        self._warned: dict[Ident, str] = {}
        self._rechecks: dict[str, asyncio.TimerHandle] = {}
        self._marks: set[asyncio.Task[None]] = set()

    def _bodies(self) -> Mapping[Ident, Body]:
        return self._in.cluster.other.get(KIND, {})

    async def on_change(self, change: Change) -> set[str]:
        if change.kind != KIND:
            return set()
        return {key_of(ident) for ident in change.idents()}

    def wanted_keys(self) -> set[str]:
        return {key_of(i) for i in self._bodies()} | {key_of(i) for i in self._in.crs.effects(KIND)}

    def adopts(self, applied: Applied) -> str | None:
        return None

    def reassign(self) -> set[str]:
        return set()

    def applied_rebuilt(self, *, inventory: Sequence[Applied]) -> None:
        return None

    def drifted(self, key: str, found: Mapping[tuple[str, str, str], Suspect]) -> None:
        return None  # owns no controller object: the L7/L4 families repair what it places

    def summary(self) -> dict[str, Any]:
        bodies = self._bodies()
        accepted = sum(1 for b in bodies.values() if (b.get("status") or {}).get("status") == "Accepted")
        return {"aviinfrasettings": len(bodies), "aviinfrasettings_accepted": accepted}

    # -- one key ---------------------------------------------------------------------------------

    async def _lookup(self, refs: Sequence[AviRef]) -> tuple[dict[tuple[str, str], dict[str, Any]], list[AviRef]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        missing: list[AviRef] = []
        get = self._in.avi_get
        for ref in refs:
            ident = (ref.obj_type, ref.name)
            if ident in found:
                continue
            obj = await get(*ident) if get is not None else {}
            if obj is None:
                missing.append(ref)
            else:
                found[ident] = obj
        return found, missing

    async def _decide(self, key: str) -> Decision:
        ident = ident_of(key)
        ref = ObjectRef(kind=KIND, namespace="", name=ident[1])
        body = self._bodies().get(ident)
        if body is None:
            return Decision(ref=ref, body=None)
        effect, verdict = parse_infrasetting(body)
        problems = list(verdict.problems)
        facts: dict[str, Any] = {}
        missing: list[AviRef] = []
        to_label = None
        if not problems and effect is not None:
            found, missing = await self._lookup(verdict.refs)
            problems += [missing_ref(obj=ref, ref=m, model=MODELS.get(m.obj_type, m.obj_type)) for m in missing]
            if not missing:
                facts = self._facts(effect, found)
                seg = found.get(("serviceenginegroup", effect.se_group))
                cluster = self._in.settings.cluster.name
                owner = se_group_owner(seg) if seg else None
                if seg and owner not in (None, cluster):
                    problems.append(Problem(
                        obj=ref, field="spec.seGroup.name", reason="SEGroupOfAnotherCluster",
                        message=f"SE group '{effect.se_group}' is labelled {CLUSTER_LABEL}={owner}, another "
                                "cluster's (AKO: one SE group per cluster)"))
                elif seg and owner is None and routes_enabled(self._in.settings):
                    to_label = seg
        accepted = None
        if not problems and effect is not None:
            accepted, _ = parse_infrasetting({**body, "avi": facts})
        return Decision(ref=ref, body=body, effect=accepted, facts=facts, problems=tuple(problems),
                        unsupported=verdict.unsupported, missing_refs=bool(missing), se_group=to_label)

    @staticmethod
    def _facts(effect: InfraEffect, found: Mapping[tuple[str, str], Mapping[str, Any]]) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        if effect.vip_networks:
            first = found.get(("network", effect.vip_networks[0].name)) or {}
            facts["vrf"] = ref_name(first.get("vrf_context_ref"))
        facts["subnets"] = {v.name: first_subnet(found.get(("network", v.name)) or {})
                            for v in effect.vip_networks if not v.cidr}
        facts["node_subnets"] = {n.name: [c for c in (first_subnet(found.get(("network", n.name)) or {}),) if c]
                                 for n in effect.node_networks if not n.cidrs}
        return facts

    def _effect_of(self, body: Mapping[str, Any], facts: Mapping[str, Any]) -> CrEffect:
        stored = {k: v for k, v in body.items() if k != "status"}
        stored["avi"] = dict(facts)
        return CrEffect(kind=KIND, namespace="", name=str(body.get("name", "")), uid=str(body.get("uid", "")),
                        body=stored, checksum=checksum({"spec": spec_checksum(body), "avi": dict(facts)}))

    async def translate(self, key: str) -> Translation:
        decision = await self._decide(key)
        if self._io is None and decision.body is not None and decision.effect is not None:
            self._in.crs.put(self._effect_of(decision.body, decision.facts))  # `akod plan`: as the daemon would
        return Translation(key=key, problems=decision.problems, scope=frozenset({decision.ref}), detail=decision)

    async def sync(self, key: str) -> Outcome:
        io = self._io
        assert io is not None, "sync runs in the daemon only"
        self._cancel_recheck(key)
        try:
            decision = await self._decide(key)
        except AviError as exc:
            return requeue(reason=f"checking the Avi objects AviInfraSetting {key} names: {exc}")
        ident = ident_of(key)
        current = self._in.crs.effect(KIND, ident)
        body = decision.body
        if body is None:
            if current is not None:
                await io.store.drop_cr_effect(kind=KIND, namespace="", name=ident[1])
                self._in.crs.drop(KIND, ident)
                await self._mark(old=current.body, new=None)
                log.info("AviInfraSetting %s is gone: its effect is removed", ident[1])
            self._warned.pop(ident, None)
            await io.reporter.replace(kind=KIND, problems=[], names={ident})
            return DONE
        if current is not None and current.uid != str(body.get("uid", "")) and decision.effect is None:
            await io.store.drop_cr_effect(kind=KIND, namespace="", name=ident[1])
            self._in.crs.drop(KIND, ident)
            await self._mark(old=current.body, new=None)
            current = None
        if decision.effect is not None:
            if decision.se_group is not None:
                try:
                    await ensure_se_group_label(client=io.client, seg=dict(decision.se_group),
                                                cluster=self._in.settings.cluster.name)
                except (ControllerMismatch, AviError) as exc:
                    return requeue(reason=f"labelling SE group {decision.effect.se_group}: {exc}")
            new = self._effect_of(body, decision.facts)
            if current is None or (current.checksum, current.uid) != (new.checksum, new.uid):
                await io.store.save_cr_effect(new)  # durable before any key applies it
                self._in.crs.put(new)
                await self._mark(old=current.body if current else None, new=new.body)
                log.info("AviInfraSetting %s accepted (SE group %s)", ident[1], decision.effect.se_group or "default")
        await io.reporter.replace(kind=KIND, problems=list(decision.problems), names={ident})
        await self._warn(decision)
        if decision.missing_refs:
            self._recheck_later(key)
        status = status_of(decision.problems, kept=decision.effect is None and current is not None)
        if io.kube is None or not _status_differs(body, status):
            return DONE
        try:
            await io.kube.patch_cr_status(obj=decision.ref, status=status)
        except NotRouted:
            return DONE
        except ApiException as exc:
            if exc.status == 404:
                return DONE
            return requeue(reason=f"writing the status of AviInfraSetting {ident[1]}: {exc.status} {exc.reason}")
        return DONE

    async def _mark(self, *, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> None:
        io = self._io
        if io is None or io.mark is None:
            return
        for key in sorted(self._in.crs.keys_for(KIND, old=old, new=new)):
            await io.mark(key)

    async def _warn(self, decision: Decision) -> None:
        io = self._io
        body = decision.body
        if io is None or body is None or not decision.unsupported or decision.problems:
            return
        ident = ("", decision.ref.name)
        spec = spec_checksum(body)
        if self._warned.get(ident) == spec:
            return
        self._warned[ident] = spec
        message = (f"akod does not apply {', '.join(decision.unsupported)} (README, AviInfraSetting); "
                   "the rest of the AviInfraSetting is applied")
        log.warning("AviInfraSetting %s: %s", ident[1], message)
        if io.kube is not None:
            await io.kube.post_event(obj=decision.ref, uid=str(body.get("uid", "")), reason="FieldNotApplied",
                                     message=message)

    def _recheck_later(self, key: str) -> None:
        io = self._io
        if io is None or io.mark is None:
            return
        mark = io.mark
        delay = max(self._in.settings.sync.drift_check_s or 60.0, 1.0)

        def fire() -> None:
            self._rechecks.pop(key, None)
            task = asyncio.ensure_future(mark(key))
            self._marks.add(task)
            task.add_done_callback(self._marks.discard)

        self._rechecks[key] = asyncio.get_running_loop().call_later(delay, fire)

    def _cancel_recheck(self, key: str) -> None:
        handle = self._rechecks.pop(key, None)
        if handle is not None:
            handle.cancel()

    async def plan(self, translation: Translation, *, have: Mapping[tuple[str, str], Applied],
                   client: AviClient) -> list[PlannedChange]:
        # It changes the objects of the L7/L4 keys (their lines name it); itself only the SE group's label.
        decision = translation.detail
        if isinstance(decision, Decision) and decision.effect is not None and decision.se_group is not None:
            return [PlannedChange(action="label", obj_type="serviceenginegroup", name=decision.effect.se_group,
                                  owner=f"AviInfraSetting {decision.ref.name}")]
        return []

    async def describe(self, ref: ObjectRef) -> dict[str, Any] | None:
        ident = ("", ref.name)
        current = self._in.crs.effect(KIND, ident)
        body = self._bodies().get(ident) or {}
        effect = parse_infrasetting(current.body)[0] if current is not None else None
        return {"keys": [key_of(ident)], "status": dict(body.get("status") or {}),
                "effect": effect.describe() if effect is not None else None,
                "acts_on_keys": sorted(self._in.crs.keys_for(KIND, old=None, new=current.body)) if current else [],
                "avi_objects": []}


def _status_differs(body: Mapping[str, Any], status: Mapping[str, str]) -> bool:
    shown = body.get("status") or {}
    return (str(shown.get("status") or ""), str(shown.get("error") or "")) != (status["status"], status["error"])


__all__ = ["ADMIN", "InfraSettingFamily"]
