"""L4Rule: AKO's per-Service L4 virtual service and pool properties, accepted or rejected, recorded.

A key is `l4rule:<namespace>/<name>`. The family makes no controller object itself: its sync
decides whether the L4Rule is accepted (`akod.model.l4rule`: the fields, every Avi object it
names existing on the controller), writes `status.status`/`status.error` (only when Kubernetes
shows something else, only as the leader), and records the accepted spec as the L4Rule's effect
(`akod.sync.crs.CrState`, kept in the state database). The L4 family applies the effects in its
translation (`akod.model.l4rule_apply`, to the Services whose annotation `ako.vmware.com/l4rule`
names the L4Rule); when an effect changes, this family marks exactly the L4 keys of those
Services (`families/l4rules.py` answers which), so each changed object is written once.

As for HostRules (`families/hostrule.py` is the template): a rejected L4Rule changes nothing; one
accepted and then edited into something invalid is reported and keeps its last accepted effect,
across restarts too; deleting it removes the effect; a field akod reads but does not apply is
named in one warning Event per spec; one rejected because an Avi object is missing is judged
again every `[sync] drift_check_s`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from akod.avi import AviClient, AviError
from akod.kube.status import NotRouted
from akod.model.crs import missing_ref, status_of
from akod.model.l4rule import KIND, MODELS, L4RuleEffect, judge_types, parse_l4rule, type_reads
from akod.model.problems import ObjectRef, Problem
from akod.store import Applied, CrEffect
from akod.sync.cluster import Change
from akod.sync.contexts import Contexts
from akod.sync.crs import Ident, RefChecker, effect_checksum, status_differs
from akod.sync.family import DONE, Inputs, Outcome, PlannedChange, SyncIO, Translation, requeue
from akod.sync.suspects import Suspect

log = logging.getLogger("akod.sync")
KEY_KIND = "l4rule"
Body = dict[str, Any]


def key_of(ident: Ident) -> str:
    return f"{KEY_KIND}:{ident[0]}/{ident[1]}"


def ident_of(key: str) -> Ident:
    namespace, _, name = key.split(":", 1)[1].partition("/")
    return namespace, name


@dataclass(frozen=True)
class Decision:
    """An L4Rule judged now: its effect if accepted, else why not."""

    ref: ObjectRef
    body: Body | None  # None: the L4Rule is gone
    effect: L4RuleEffect | None = None
    problems: tuple[Problem, ...] = ()
    unsupported: tuple[str, ...] = ()
    missing_refs: bool = False


def stored_body(body: Mapping[str, Any]) -> Body:
    """What of an L4Rule its effect is kept as (not the status akod writes itself)."""
    return {k: v for k, v in body.items() if k != "status"}


class L4RuleFamily:
    name = "l4rule"
    key_kinds = frozenset({KEY_KIND})
    resources: tuple[str, ...] = ("l4rules",)
    judges_crs = True  # `akod plan` judges its keys before the L4 keys that apply the effects
    subject_kind = KIND
    own_journal = False

    def __init__(self, *, inputs: Inputs, contexts: Contexts, io: SyncIO | None) -> None:
        self._in = inputs
        self._io = io
        self._refs = RefChecker(exists=inputs.avi_exists)
        self._checked: dict[Ident, str] = {}  # the spec whose refs were last checked afresh
        self._warned: dict[Ident, str] = {}  # the spec whose unsupported fields were warned about
        self._typed: dict[Ident, tuple[str, tuple[Problem, ...]]] = {}  # spec -> what its profiles' types gave
        self._rechecks: dict[str, asyncio.TimerHandle] = {}
        self._marks: set[asyncio.Task[None]] = set()

    def _bodies(self) -> Mapping[Ident, Body]:
        return self._in.cluster.other.get(KIND, {})

    # -- keys ------------------------------------------------------------------------------------

    async def on_change(self, change: Change) -> set[str]:
        if change.kind != KIND:
            return set()
        return {key_of(ident) for ident in change.idents()}

    def wanted_keys(self) -> set[str]:
        """Every L4Rule, and every recorded effect (its L4Rule may be gone: the effect goes too)."""
        return {key_of(i) for i in self._bodies()} | {key_of(i) for i in self._in.crs.effects(KIND)}

    def adopts(self, applied: Applied) -> str | None:
        return None

    def reassign(self) -> set[str]:
        return set()

    def applied_rebuilt(self, *, inventory: Sequence[Applied]) -> None:
        return None

    def drifted(self, key: str, found: Mapping[tuple[str, str, str], Suspect]) -> None:
        return None  # owns no controller object: the L4 family repairs what an L4Rule adds

    def summary(self) -> dict[str, Any]:
        bodies = self._bodies()
        accepted = sum(1 for b in bodies.values() if (b.get("status") or {}).get("status") == "Accepted")
        return {"l4rules": len(bodies), "l4rules_accepted": accepted}

    # -- one key ---------------------------------------------------------------------------------

    async def _decide(self, key: str) -> Decision:
        ident = ident_of(key)
        ref = ObjectRef(kind=KIND, namespace=ident[0], name=ident[1])
        body = self._bodies().get(ident)
        if body is None:
            return Decision(ref=ref, body=None)
        effect, verdict = parse_l4rule(body)
        problems = list(verdict.problems)
        missing = []
        if not problems:
            spec = effect_checksum(body)
            missing = await self._refs.missing(verdict.refs, fresh=self._checked.get(ident) != spec)
            self._checked[ident] = spec
            problems += [missing_ref(obj=ref, ref=m, model=MODELS.get(m.obj_type, m.obj_type)) for m in missing]
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

    async def translate(self, key: str) -> Translation:
        decision = await self._decide(key)
        if self._io is None and decision.body is not None and decision.effect is not None:
            # `akod plan`: the L4 keys translated after this one apply what the daemon would accept.
            self._in.crs.put(self._effect_of(decision.body))
        return Translation(key=key, problems=decision.problems, scope=frozenset({decision.ref}), detail=decision)

    def _effect_of(self, body: Mapping[str, Any]) -> CrEffect:
        return CrEffect(kind=KIND, namespace=str(body.get("namespace", "")), name=str(body.get("name", "")),
                        uid=str(body.get("uid", "")), body=stored_body(body), checksum=effect_checksum(body))

    async def sync(self, key: str) -> Outcome:
        io = self._io
        assert io is not None, "sync runs in the daemon only"
        self._cancel_recheck(key)
        try:
            decision = await self._decide(key)
        except AviError as exc:  # the controller does not answer: judge the L4Rule when it does
            return requeue(reason=f"checking the Avi objects L4Rule {key} names: {exc}")
        ident = ident_of(key)
        current = self._in.crs.effect(KIND, ident)
        body = decision.body
        if body is None:
            if current is not None:
                await io.store.drop_cr_effect(kind=KIND, namespace=ident[0], name=ident[1])
                self._in.crs.drop(KIND, ident)
                await self._mark(old=current.body, new=None)
                log.info("L4Rule %s/%s is gone: its effect is removed", *ident)
            self._checked.pop(ident, None)
            self._warned.pop(ident, None)
            self._typed.pop(ident, None)
            await io.reporter.replace(kind=KIND, problems=[], names={ident})
            return DONE
        if current is not None and current.uid != str(body.get("uid", "")) and decision.effect is None:
            # Another L4Rule of the same name (the old one was deleted while akod was down): the
            # old one's effect goes; a rejected newcomer changes nothing.
            await io.store.drop_cr_effect(kind=KIND, namespace=ident[0], name=ident[1])
            self._in.crs.drop(KIND, ident)
            await self._mark(old=current.body, new=None)
            current = None
        if decision.effect is not None:
            new = self._effect_of(body)
            if current is None or (current.checksum, current.uid) != (new.checksum, new.uid):
                await io.store.save_cr_effect(new)  # durable before any key applies it
                self._in.crs.put(new)
                await self._mark(old=current.body if current else None, new=new.body)
                log.info("L4Rule %s/%s accepted", ident[0], ident[1])
        await io.reporter.replace(kind=KIND, problems=list(decision.problems), names={ident})
        await self._warn(decision)
        if decision.missing_refs:
            self._recheck_later(key)
        status = status_of(decision.problems, kept=decision.effect is None and current is not None)
        if io.kube is None or not status_differs(body, status):
            return DONE
        try:
            await io.kube.patch_cr_status(obj=decision.ref, status=status)
        except NotRouted:
            return DONE
        except ApiException as exc:
            if exc.status == 404:
                return DONE  # deleted meanwhile: its deletion wakes the key
            return requeue(reason=f"writing the status of L4Rule {ident[0]}/{ident[1]}: {exc.status} {exc.reason}")
        return DONE

    async def _mark(self, *, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> None:
        io = self._io
        if io is None or io.mark is None:
            return
        for key in sorted(self._in.crs.keys_for(KIND, old=old, new=new)):
            await io.mark(key)

    async def _warn(self, decision: Decision) -> None:
        """One warning Event per spec naming the fields akod reads but does not apply."""
        io = self._io
        body = decision.body
        if io is None or body is None or not decision.unsupported or decision.problems:
            return
        ident = (decision.ref.namespace, decision.ref.name)
        spec = effect_checksum(body)
        if self._warned.get(ident) == spec:
            return
        self._warned[ident] = spec
        fields = ", ".join(decision.unsupported)
        message = f"akod does not apply {fields} (README, L4Rule); the rest of the L4Rule is applied"
        log.warning("L4Rule %s/%s: %s", ident[0], ident[1], message)
        if io.kube is not None:
            await io.kube.post_event(obj=decision.ref, uid=str(body.get("uid", "")), reason="FieldNotApplied",
                                     message=message)

    def _recheck_later(self, key: str) -> None:
        """A named Avi object is missing: judge the L4Rule again in a while (it may appear)."""
        io = self._io
        if io is None or io.mark is None:
            return
        mark = io.mark
        delay = max(self._in.settings.sync.drift_check_s or 60.0, 1.0)  # 0 (no drift checks): a minute

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

    # -- plan and /objects -------------------------------------------------------------------------

    async def plan(self, translation: Translation, *, have: Mapping[tuple[str, str], Applied],
                   client: AviClient) -> list[PlannedChange]:
        return []  # an L4Rule changes the objects of the L4 keys: their lines name it

    async def describe(self, ref: ObjectRef) -> dict[str, Any] | None:
        ident = (ref.namespace, ref.name)
        current = self._in.crs.effect(KIND, ident)
        body = self._bodies().get(ident) or {}
        effect = parse_l4rule(current.body)[0] if current is not None else None
        return {"keys": [key_of(ident)], "status": dict(body.get("status") or {}),
                "effect": effect.describe() if effect is not None else None,
                "acts_on_keys": sorted(self._in.crs.keys_for(KIND, old=None, new=current.body)) if current else [],
                "avi_objects": []}
