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
missing SE group or network is checked again every `[sync] drift_check_s`. Those steps are every CR
family's (`akod.sync.crlifecycle.CrFamily`); this module holds what is AviInfraSetting's own: its
judging, the facts its effect keeps, the SE group's label before it is accepted, and `plan`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from akod.avi import AviClient, AviError
from akod.model.checksums import checksum
from akod.model.crs import AviRef, missing_ref
from akod.model.infrasetting import KIND, MODELS, InfraEffect, parse_infrasetting
from akod.model.problems import ObjectRef, Problem
from akod.model.routes import CLUSTER_LABEL
from akod.store import Applied, CrEffect
from akod.sync.crlifecycle import Body, CrFamily, Decision, stored_body
from akod.sync.crs import Ident, effect_checksum
from akod.sync.discovery import ADMIN, ControllerMismatch, ensure_se_group_label, routes_enabled, se_group_owner
from akod.sync.family import Outcome, PlannedChange, SyncIO, Translation, requeue
from akod.sync.infrafacts import first_subnet, ref_name

KEY_KIND = "aviinfrasetting"


@dataclass(frozen=True)
class InfraDecision(Decision[InfraEffect]):
    """An AviInfraSetting judged now, with what the controller told of the objects it names."""

    facts: Mapping[str, Any] = field(default_factory=dict)
    se_group: Mapping[str, Any] | None = None  # the SE group to label (routes on, not labelled yet)


class InfraSettingFamily(CrFamily[InfraEffect, InfraDecision]):
    name = "aviinfrasetting"
    key_kinds = frozenset({KEY_KIND})
    resources: tuple[str, ...] = ("aviinfrasettings",)
    subject_kind = KIND
    kind = KIND
    key_kind = KEY_KIND
    cluster_scoped = True

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

    def _gone(self, ref: ObjectRef) -> InfraDecision:
        return InfraDecision(ref=ref, body=None)

    async def _judge(self, *, ident: Ident, ref: ObjectRef, body: Body) -> InfraDecision:
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
        return InfraDecision(ref=ref, body=body, effect=accepted, facts=facts, problems=tuple(problems),
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

    def _effect_of(self, *, body: Mapping[str, Any], decision: InfraDecision) -> CrEffect:
        facts = decision.facts
        stored = stored_body(body)
        stored["avi"] = dict(facts)
        return CrEffect(kind=KIND, namespace="", name=str(body.get("name", "")), uid=str(body.get("uid", "")),
                        body=stored, checksum=checksum({"spec": effect_checksum(body), "avi": dict(facts)}))

    async def _before_accept(self, *, io: SyncIO, decision: InfraDecision) -> Outcome | None:
        """AKO labels the SE group when it accepts an AviInfraSetting (`addSeGroupLabel`)."""
        if decision.se_group is None or decision.effect is None:
            return None
        try:
            await ensure_se_group_label(client=io.client, seg=dict(decision.se_group),
                                        cluster=self._in.settings.cluster.name)
        except (ControllerMismatch, AviError) as exc:
            return requeue(reason=f"labelling SE group {decision.effect.se_group}: {exc}")
        return None

    def _accepted_note(self, effect: InfraEffect) -> str:
        return f" (SE group {effect.se_group or 'default'})"

    def _parse_effect(self, body: Mapping[str, Any]) -> InfraEffect | None:
        return parse_infrasetting(body)[0]

    async def plan(self, translation: Translation, *, have: Mapping[tuple[str, str], Applied],
                   client: AviClient) -> list[PlannedChange]:
        # It changes the objects of the L7/L4 keys (their lines name it); itself only the SE group's label.
        decision = translation.detail
        if isinstance(decision, InfraDecision) and decision.effect is not None and decision.se_group is not None:
            return [PlannedChange(action="label", obj_type="serviceenginegroup", name=decision.effect.se_group,
                                  owner=f"AviInfraSetting {decision.ref.name}")]
        return []


__all__ = ["ADMIN", "InfraSettingFamily"]
