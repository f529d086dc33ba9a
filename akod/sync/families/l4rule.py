"""L4Rule: AKO's per-Service L4 virtual service and pool properties, accepted or rejected, recorded.

A key is `l4rule:<namespace>/<name>`. The family makes no controller object itself: its sync
decides whether the L4Rule is accepted (`akod.model.l4rule`: the fields, every Avi object it
names existing on the controller), writes `status.status`/`status.error` (only when Kubernetes
shows something else, only as the leader), and records the accepted spec as the L4Rule's effect
(`akod.sync.crs.CrState`, kept in the state database). The L4 family applies the effects in its
translation (`akod.model.l4rule_apply`, to the Services whose annotation `ako.vmware.com/l4rule`
names the L4Rule); when an effect changes, this family marks exactly the L4 keys of those
Services (`families/l4rules.py` answers which), so each changed object is written once.

As for HostRules (`families/hostrule.py`): a rejected L4Rule changes nothing; one
accepted and then edited into something invalid is reported and keeps its last accepted effect,
across restarts too; deleting it removes the effect; a field akod reads but does not apply is
named in one warning Event per spec; one rejected because an Avi object is missing is judged
again every `[sync] drift_check_s`. Those steps are every CR family's
(`akod.sync.crlifecycle.CrFamily`); this module holds what is L4Rule's own: its judging (the
profiles' types too, read once per spec) and the wording.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from akod.model.l4rule import KIND, MODELS, L4RuleEffect, judge_types, parse_l4rule, type_reads
from akod.model.problems import ObjectRef, Problem
from akod.sync.contexts import Contexts
from akod.sync.crlifecycle import Body, CrFamily, Decision
from akod.sync.crs import Ident, effect_checksum
from akod.sync.family import Inputs, SyncIO

KEY_KIND = "l4rule"


class L4RuleFamily(CrFamily[L4RuleEffect, Decision[L4RuleEffect]]):
    name = "l4rule"
    key_kinds = frozenset({KEY_KIND})
    resources: tuple[str, ...] = ("l4rules",)
    judges_crs = True  # `akod plan` judges its keys before the L4 keys that apply the effects
    subject_kind = KIND
    kind = KIND
    key_kind = KEY_KIND

    def __init__(self, *, inputs: Inputs, contexts: Contexts, io: SyncIO | None) -> None:
        super().__init__(inputs=inputs, contexts=contexts, io=io)
        self._typed: dict[Ident, tuple[str, tuple[Problem, ...]]] = {}  # spec -> what its profiles' types gave

    def _forget(self, ident: Ident) -> None:
        super()._forget(ident)
        self._typed.pop(ident, None)

    def _gone(self, ref: ObjectRef) -> Decision[L4RuleEffect]:
        return Decision(ref=ref, body=None)

    async def _judge(self, *, ident: Ident, ref: ObjectRef, body: Body) -> Decision[L4RuleEffect]:
        effect, verdict = parse_l4rule(body)
        problems = list(verdict.problems)
        missing: list[Problem] = []  # a problem for each named Avi object that is missing
        if not problems:
            missing = await self._check_refs(ident=ident, ref=ref, body=body, refs=verdict.refs, models=MODELS)
            problems += missing
        if not problems:
            problems += await self._types(ident, body)
        return Decision(ref=ref, body=body, effect=None if problems else effect, problems=tuple(problems),
                        unsupported=verdict.unsupported, missing_refs=bool(missing))

    async def _types(self, ident: Ident, body: Mapping[str, Any]) -> list[Problem]:
        """AKO's checks of the profiles' types (one paced read each, again only when the spec changes)."""
        read = self._in.avi_read
        spec = effect_checksum(body)
        kept = self._typed.get(ident)
        if kept is not None and kept[0] == spec:
            return list(kept[1])
        if read is None:
            return []
        found = {r.field: await read(r.obj_type, r.name, r.fields) for r in type_reads(body)}
        problems = judge_types(body, found)
        self._typed[ident] = (spec, tuple(problems))
        return problems

    def _parse_effect(self, body: Mapping[str, Any]) -> L4RuleEffect | None:
        return parse_l4rule(body)[0]
