"""HTTPRule: AKO's per-path pool properties, accepted or rejected, and their effect recorded.

A key is `httprule:<namespace>/<name>`. It works as the HostRule family (`families/hostrule.py`)
does, through the same steps (`akod.sync.crlifecycle.CrFamily`): its sync decides whether the
HTTPRule is accepted (`akod.model.httprule`: the fields, no target an older HTTPRule of the
namespace holds for the same host, every Avi object it names existing on the controller), writes
`status.status`/`status.error` (only when Kubernetes shows something else, only as the leader), and
records the accepted spec as the HTTPRule's effect (`akod.sync.crs.CrState`, kept in the state
database). The L7 family applies the effects to the pools in its translation
(`akod.model.httprule_apply`); when an effect changes, this family marks exactly the L7 keys
serving the host for an Ingress of the HTTPRule's namespace, so each changed object is written
once.

A rejected HTTPRule changes nothing; one accepted and then edited into something invalid keeps
its last accepted effect (across restarts too) and is reported; deleting it removes the effect.
A field that cannot apply (a `hash` without the consistent hash algorithm...) is named in a
warning Event once per spec. An HTTPRule rejected because an Avi object is missing is checked
again every `[sync] drift_check_s`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from akod.model.httprule import KIND, MODELS, HTTPRuleEffect, conflicts, fqdn_of, parse_httprule
from akod.model.problems import ObjectRef, Problem
from akod.sync.cluster import Change
from akod.sync.crlifecycle import Body, CrFamily, Decision
from akod.sync.crs import Ident

KEY_KIND = "httprule"


@dataclass(frozen=True)
class HTTPRuleDecision(Decision[HTTPRuleEffect]):
    """An HTTPRule judged now; `notes`: the fields that cannot apply as written, named in the warning too."""

    notes: tuple[str, ...] = ()


class HTTPRuleFamily(CrFamily[HTTPRuleEffect, HTTPRuleDecision]):
    name = "httprule"
    key_kinds = frozenset({KEY_KIND})
    resources: tuple[str, ...] = ("httprules",)
    subject_kind = KIND
    kind = KIND
    key_kind = KEY_KIND

    async def on_change(self, change: Change) -> set[str]:
        if change.kind != KIND:
            return set()
        keys: set[str] = set()
        hosts: set[tuple[str, str]] = set()
        for ident in change.idents():
            keys.add(self._key_of(ident))
            for body in (change.before.get(ident), self._bodies().get(ident)):
                if body:
                    hosts.add((ident[0], fqdn_of(body)))
        # The others of the namespace naming one of these hosts may win a target, or lose it, now.
        keys |= {self._key_of(ident) for ident, body in self._bodies().items() if (ident[0], fqdn_of(body)) in hosts}
        return keys

    def _gone(self, ref: ObjectRef) -> HTTPRuleDecision:
        return HTTPRuleDecision(ref=ref, body=None)

    async def _judge(self, *, ident: Ident, ref: ObjectRef, body: Body) -> HTTPRuleDecision:
        effect, verdict = parse_httprule(body)
        problems = list(verdict.problems)
        same_host = [b for i, b in self._bodies().items() if i[0] == ident[0] and fqdn_of(b) == fqdn_of(body)]
        problems[:0] = conflicts(same_host).get(ref, [])
        missing: list[Problem] = []  # a problem for each named Avi object that is missing
        if not problems:
            missing = await self._check_refs(ident=ident, ref=ref, body=body, refs=verdict.refs, models=MODELS)
            problems += missing
        return HTTPRuleDecision(ref=ref, body=body, effect=None if problems else effect, problems=tuple(problems),
                                unsupported=verdict.unsupported, notes=verdict.notes, missing_refs=bool(missing))

    def _parse_effect(self, body: Mapping[str, Any]) -> HTTPRuleEffect | None:
        return parse_httprule(body)[0]

    def _not_applied(self, decision: HTTPRuleDecision) -> tuple[str, ...]:
        return (*decision.unsupported, *decision.notes)

    def _accepted_note(self, effect: HTTPRuleEffect) -> str:
        return f" for {effect.fqdn}"
