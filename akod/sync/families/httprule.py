"""HTTPRule: AKO's per-path pool properties, accepted or rejected, and their effect recorded.

A key is `httprule:<namespace>/<name>`. The HostRule family (`families/hostrule.py`) is the
template and this one works the same way: its sync decides whether the HTTPRule is accepted
(`akod.model.httprule`: the fields, no target an older HTTPRule of the namespace holds for the same
host, every Avi object it names existing on the controller), writes `status.status`/`status.error`
(only when Kubernetes shows something else, only as the leader), and records the accepted spec as
the HTTPRule's effect (`akod.sync.crs.CrState`, kept in the state database). The L7 family applies
the effects to the pools in its translation (`akod.model.httprule_apply`); when an effect
changes, this family marks exactly the L7 keys serving the host for an Ingress of the HTTPRule's
namespace, so each changed object is written once.

A rejected HTTPRule changes nothing; one accepted and then edited into something invalid keeps
its last accepted effect (across restarts too) and is reported; deleting it removes the effect.
A field that cannot apply (a `hash` without the consistent hash algorithm...) is named in a
warning Event once per spec. An HTTPRule rejected because an Avi object is missing is checked
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
from akod.model.httprule import KIND, MODELS, HTTPRuleEffect, conflicts, fqdn_of, parse_httprule
from akod.model.problems import ObjectRef, Problem
from akod.store import Applied, CrEffect
from akod.sync.cluster import Change
from akod.sync.contexts import Contexts
from akod.sync.crs import Ident, RefChecker, effect_checksum, status_differs
from akod.sync.family import DONE, Inputs, Outcome, PlannedChange, SyncIO, Translation, requeue
from akod.sync.suspects import Suspect

log = logging.getLogger("akod.sync")
KEY_KIND = "httprule"
Body = dict[str, Any]


def key_of(ident: Ident) -> str:
    return f"{KEY_KIND}:{ident[0]}/{ident[1]}"


def ident_of(key: str) -> Ident:
    namespace, _, name = key.split(":", 1)[1].partition("/")
    return namespace, name


@dataclass(frozen=True)
class Decision:
    """An HTTPRule judged now: its effect if accepted, else why not."""

    ref: ObjectRef
    body: Body | None  # None: the HTTPRule is gone
    effect: HTTPRuleEffect | None = None
    problems: tuple[Problem, ...] = ()
    unsupported: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    missing_refs: bool = False


def stored_body(body: Mapping[str, Any]) -> Body:
    """What of an HTTPRule its effect is kept as (not the status akod writes itself)."""
    return {k: v for k, v in body.items() if k != "status"}


class HTTPRuleFamily:
    name = "httprule"
    key_kinds = frozenset({KEY_KIND})
    resources: tuple[str, ...] = ("httprules",)
    subject_kind = KIND
    own_journal = False

    def __init__(self, *, inputs: Inputs, contexts: Contexts, io: SyncIO | None) -> None:
        self._in = inputs
        self._io = io
        self._refs = RefChecker(exists=inputs.avi_exists)
        self._checked: dict[Ident, str] = {}  # the spec whose refs were last checked afresh
        self._warned: dict[Ident, str] = {}  # the spec whose unsupported fields were warned about
        self._rechecks: dict[str, asyncio.TimerHandle] = {}
        self._marks: set[asyncio.Task[None]] = set()

    def _bodies(self) -> Mapping[Ident, Body]:
        return self._in.cluster.other.get(KIND, {})

    # -- keys ------------------------------------------------------------------------------------

    async def on_change(self, change: Change) -> set[str]:
        if change.kind != KIND:
            return set()
        keys: set[str] = set()
        hosts: set[tuple[str, str]] = set()
        for ident in change.idents():
            keys.add(key_of(ident))
            for body in (change.before.get(ident), self._bodies().get(ident)):
                if body:
                    hosts.add((ident[0], fqdn_of(body)))
        # The others of the namespace naming one of these hosts may win a target, or lose it, now.
        keys |= {key_of(ident) for ident, body in self._bodies().items() if (ident[0], fqdn_of(body)) in hosts}
        return keys

    def wanted_keys(self) -> set[str]:
        """Every HTTPRule, and every recorded effect (its HTTPRule may be gone: the effect goes too)."""
        return {key_of(i) for i in self._bodies()} | {key_of(i) for i in self._in.crs.effects(KIND)}

    def adopts(self, applied: Applied) -> str | None:
        return None

    def reassign(self) -> set[str]:
        return set()

    def applied_rebuilt(self, *, inventory: Sequence[Applied]) -> None:
        return None

    def drifted(self, key: str, found: Mapping[tuple[str, str, str], Suspect]) -> None:
        return None  # owns no controller object: the L7 family repairs what an HTTPRule adds

    def summary(self) -> dict[str, Any]:
        bodies = self._bodies()
        accepted = sum(1 for b in bodies.values() if (b.get("status") or {}).get("status") == "Accepted")
        return {"httprules": len(bodies), "httprules_accepted": accepted}

    # -- one key ---------------------------------------------------------------------------------

    async def _decide(self, key: str) -> Decision:
        ident = ident_of(key)
        ref = ObjectRef(kind=KIND, namespace=ident[0], name=ident[1])
        body = self._bodies().get(ident)
        if body is None:
            return Decision(ref=ref, body=None)
        effect, verdict = parse_httprule(body)
        problems = list(verdict.problems)
        same_host = [b for i, b in self._bodies().items() if i[0] == ident[0] and fqdn_of(b) == fqdn_of(body)]
        problems[:0] = conflicts(same_host).get(ref, [])
        missing = []
        if not problems:
            spec = effect_checksum(body)
            missing = await self._refs.missing(verdict.refs, fresh=self._checked.get(ident) != spec)
            self._checked[ident] = spec
            problems += [missing_ref(obj=ref, ref=m, model=MODELS.get(m.obj_type, m.obj_type)) for m in missing]
        return Decision(ref=ref, body=body, effect=None if problems else effect, problems=tuple(problems),
                        unsupported=verdict.unsupported, notes=verdict.notes, missing_refs=bool(missing))

    async def translate(self, key: str) -> Translation:
        decision = await self._decide(key)
        if self._io is None and decision.body is not None and decision.effect is not None:
            # `akod plan`: the L7 keys translated after this one apply what the daemon would accept.
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
        except AviError as exc:  # the controller does not answer: judge the HTTPRule when it does
            return requeue(reason=f"checking the Avi objects HTTPRule {key} names: {exc}")
        ident = ident_of(key)
        current = self._in.crs.effect(KIND, ident)
        body = decision.body
        if body is None:
            if current is not None:
                await io.store.drop_cr_effect(kind=KIND, namespace=ident[0], name=ident[1])
                self._in.crs.drop(KIND, ident)
                await self._mark(old=current.body, new=None)
                log.info("HTTPRule %s/%s is gone: its effect is removed", *ident)
            self._checked.pop(ident, None)
            self._warned.pop(ident, None)
            await io.reporter.replace(kind=KIND, problems=[], names={ident})
            return DONE
        if current is not None and current.uid != str(body.get("uid", "")) and decision.effect is None:
            # Another HTTPRule of the same name (the old one was deleted while akod was down): the
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
                log.info("HTTPRule %s/%s accepted for %s", ident[0], ident[1], decision.effect.fqdn)
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
            return requeue(reason=f"writing the status of HTTPRule {ident[0]}/{ident[1]}: {exc.status} {exc.reason}")
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
        if io is None or body is None or not (decision.unsupported or decision.notes) or decision.problems:
            return
        ident = (decision.ref.namespace, decision.ref.name)
        spec = effect_checksum(body)
        if self._warned.get(ident) == spec:
            return
        self._warned[ident] = spec
        fields = ", ".join((*decision.unsupported, *decision.notes))
        message = f"akod does not apply {fields} (README, HTTPRule); the rest of the HTTPRule is applied"
        log.warning("HTTPRule %s/%s: %s", ident[0], ident[1], message)
        if io.kube is not None:
            await io.kube.post_event(obj=decision.ref, uid=str(body.get("uid", "")), reason="FieldNotApplied",
                                     message=message)

    def _recheck_later(self, key: str) -> None:
        """A named Avi object is missing: judge the HTTPRule again in a while (it may appear)."""
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
        return []  # an HTTPRule changes the pools of the L7 keys: their lines name it

    async def describe(self, ref: ObjectRef) -> dict[str, Any] | None:
        ident = (ref.namespace, ref.name)
        current = self._in.crs.effect(KIND, ident)
        body = self._bodies().get(ident) or {}
        effect = parse_httprule(current.body)[0] if current is not None else None
        return {"keys": [key_of(ident)], "status": dict(body.get("status") or {}),
                "effect": effect.describe() if effect is not None else None,
                "acts_on_keys": sorted(self._in.crs.keys_for(KIND, old=None, new=current.body)) if current else [],
                "avi_objects": []}
