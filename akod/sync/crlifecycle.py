"""The lifecycle every AKO custom resource family goes through, written once: `CrFamily`.

HostRule, HTTPRule, L4Rule and AviInfraSetting make no controller object: each judges its CR and
records the accepted effect (`akod.sync.crs`), which the L7 and L4 families apply. Apart from the
judging, the four went through the same steps, and this module holds those steps so that a change
to one (the order of the writes, the status rule) is made once for every kind. `CrFamily.sync`:

- judges the CR (`_judge`: the family's own checks; `_check_refs` asks whether the Avi objects it
  names exist, afresh when the spec changed);
- the CR is gone: drops its effect, marks the keys that applied it, forgets what was kept about
  it (`_forget`);
- a new CR of the same name (the old one was deleted while akod was down) that is not accepted:
  the old one's effect goes all the same, and the newcomer changes nothing;
- accepted with another spec or uid: the new effect is saved in the state database, then put in
  `CrState`, then the keys it touches are marked, so an effect is durable before any key applies
  it (`_before_accept` runs first: AviInfraSetting labels its SE group there);
- reports the problems to `/status`, names the fields akod does not apply in one warning Event per
  spec, and judges the CR again every `[sync] drift_check_s` while a named Avi object is missing;
- writes `status.status`/`status.error` only when Kubernetes shows something else.

In `akod plan` (`translate` without a `SyncIO`) an accepted effect is only put in `CrState`, for
the keys translated after it. A family keeps what differs: `_judge`, `_gone`, its effect
(`_effect_of`), `_parse_effect` for `/objects`, which other CRs a change wakes (`on_change`), and
the wording (`_accepted_note`, `_not_applied`, `_not_applied_message`). A cluster-scoped kind
(`cluster_scoped`: AviInfraSetting) has keys and log lines that name the CR alone.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from kubernetes_asyncio.client.exceptions import ApiException

from akod.avi import AviClient, AviError
from akod.kube.status import NotRouted
from akod.model.crs import AviRef, missing_ref, status_of
from akod.model.problems import ObjectRef, Problem
from akod.store import Applied, CrEffect
from akod.sync.cluster import Change
from akod.sync.contexts import Contexts
from akod.sync.crs import Ident, RefChecker, effect_checksum, status_differs
from akod.sync.family import DONE, Inputs, Outcome, PlannedChange, SyncIO, Translation, requeue
from akod.sync.suspects import Suspect

log = logging.getLogger("akod.sync")
Body = dict[str, Any]


class Effect(Protocol):
    """What a kind's model parses an accepted CR into (`HostRuleEffect`...)."""

    def describe(self) -> dict[str, Any]: ...


E = TypeVar("E", bound=Effect)


@dataclass(frozen=True)
class Decision(Generic[E]):
    """A CR judged now: its effect if accepted, else why not."""

    ref: ObjectRef
    body: Body | None  # None: the CR is gone
    effect: E | None = None
    problems: tuple[Problem, ...] = ()
    unsupported: tuple[str, ...] = ()
    missing_refs: bool = False


D = TypeVar("D", bound=Decision[Any])


def stored_body(body: Mapping[str, Any]) -> Body:
    """What of a CR its effect is kept as (not the status akod writes itself)."""
    return {k: v for k, v in body.items() if k != "status"}


class CrFamily(ABC, Generic[E, D]):
    """A CR family's keys, sync, plan and `/objects` (see the module docstring); a kind subclasses it."""

    name: str
    key_kinds: frozenset[str]
    resources: tuple[str, ...]
    subject_kind: str
    own_journal = False
    kind: str  # the CR's Kubernetes kind, as log lines, requeue reasons and Events name it
    key_kind: str
    cluster_scoped = False

    def __init__(self, *, inputs: Inputs, contexts: Contexts, io: SyncIO | None) -> None:
        self._in = inputs
        self._io = io
        self._refs = RefChecker(exists=inputs.avi_exists)
        self._checked: dict[Ident, str] = {}  # the spec whose refs were last checked afresh
        self._warned: dict[Ident, str] = {}  # the spec whose unsupported fields were warned about
        self._rechecks: dict[str, asyncio.TimerHandle] = {}
        self._marks: set[asyncio.Task[None]] = set()

    def _bodies(self) -> Mapping[Ident, Body]:
        return self._in.cluster.other.get(self.kind, {})

    def _key_of(self, ident: Ident) -> str:
        if self.cluster_scoped:
            return f"{self.key_kind}:{ident[1]}"
        return f"{self.key_kind}:{ident[0]}/{ident[1]}"

    def _ident_of(self, key: str) -> Ident:
        rest = key.split(":", 1)[1]
        if self.cluster_scoped:
            return "", rest
        namespace, _, name = rest.partition("/")
        return namespace, name

    def _named(self, ident: Ident) -> str:
        """The CR as log lines and requeue reasons name it."""
        return ident[1] if self.cluster_scoped else f"{ident[0]}/{ident[1]}"

    # -- keys ------------------------------------------------------------------------------------

    async def on_change(self, change: Change) -> set[str]:
        if change.kind != self.kind:
            return set()
        return {self._key_of(ident) for ident in change.idents()}

    def wanted_keys(self) -> set[str]:
        """Every CR, and every recorded effect (its CR may be gone: the effect goes too)."""
        return {self._key_of(i) for i in self._bodies()} | {self._key_of(i) for i in self._in.crs.effects(self.kind)}

    def adopts(self, applied: Applied) -> str | None:
        return None

    def reassign(self) -> set[str]:
        return set()

    def applied_rebuilt(self, *, inventory: Sequence[Applied]) -> None:
        return None

    def drifted(self, key: str, found: Mapping[tuple[str, str, str], Suspect]) -> None:
        return None  # owns no controller object: the families that apply the effect repair what it adds

    def summary(self) -> dict[str, Any]:
        bodies = self._bodies()
        accepted = sum(1 for b in bodies.values() if (b.get("status") or {}).get("status") == "Accepted")
        return {f"{self.name}s": len(bodies), f"{self.name}s_accepted": accepted}

    # -- one key: what a kind decides ----------------------------------------------------------------

    @abstractmethod
    def _gone(self, ref: ObjectRef) -> D:
        """The decision on a CR that no longer exists."""

    @abstractmethod
    async def _judge(self, *, ident: Ident, ref: ObjectRef, body: Body) -> D:
        """Whether the CR `body` is accepted, and why not."""

    @abstractmethod
    def _parse_effect(self, body: Mapping[str, Any]) -> E | None:
        """The effect a kept effect body parses into (`/objects`)."""

    def _effect_of(self, *, body: Mapping[str, Any], decision: D) -> CrEffect:
        """The effect of the accepted CR `body`, as it is kept."""
        return CrEffect(kind=self.kind, namespace=str(body.get("namespace", "")), name=str(body.get("name", "")),
                        uid=str(body.get("uid", "")), body=stored_body(body), checksum=effect_checksum(body))

    async def _before_accept(self, *, io: SyncIO, decision: D) -> Outcome | None:
        """What must be done on the controller before the effect is recorded; an Outcome stops the sync."""
        return None

    def _forget(self, ident: Ident) -> None:
        """The CR is gone: what was kept about it goes."""
        self._checked.pop(ident, None)
        self._warned.pop(ident, None)

    def _accepted_note(self, effect: E) -> str:
        """What the log line of an accepted CR adds after "accepted"."""
        return ""

    def _not_applied(self, decision: D) -> tuple[str, ...]:
        """The fields the warning Event names."""
        return decision.unsupported

    def _not_applied_message(self, fields: str) -> str:
        return f"akod does not apply {fields} (README, {self.kind}); the rest of the {self.kind} is applied"

    async def _check_refs(self, *, ident: Ident, ref: ObjectRef, body: Mapping[str, Any], refs: Sequence[AviRef],
                          models: Mapping[str, str]) -> list[Problem]:
        """A problem for each Avi object `refs` names that is missing (asked afresh when the spec changed)."""
        spec = effect_checksum(body)
        missing = await self._refs.missing(refs, fresh=self._checked.get(ident) != spec)
        self._checked[ident] = spec
        return [missing_ref(obj=ref, ref=m, model=models.get(m.obj_type, m.obj_type)) for m in missing]

    # -- one key: the lifecycle ----------------------------------------------------------------------

    async def _decide(self, key: str) -> D:
        ident = self._ident_of(key)
        ref = ObjectRef(kind=self.kind, namespace=ident[0], name=ident[1])
        body = self._bodies().get(ident)
        if body is None:
            return self._gone(ref)
        return await self._judge(ident=ident, ref=ref, body=body)

    async def translate(self, key: str) -> Translation:
        decision = await self._decide(key)
        if self._io is None and decision.body is not None and decision.effect is not None:
            # `akod plan`: the keys translated after this one apply what the daemon would accept.
            self._in.crs.put(self._effect_of(body=decision.body, decision=decision))
        return Translation(key=key, problems=decision.problems, scope=frozenset({decision.ref}), detail=decision)

    async def sync(self, key: str) -> Outcome:
        io = self._io
        assert io is not None, "sync runs in the daemon only"
        self._cancel_recheck(key)
        try:
            decision = await self._decide(key)
        except AviError as exc:  # the controller does not answer: judge the CR when it does
            return requeue(reason=f"checking the Avi objects {self.kind} {key} names: {exc}")
        ident = self._ident_of(key)
        current = self._in.crs.effect(self.kind, ident)
        body = decision.body
        if body is None:
            if current is not None:
                await self._drop(io=io, ident=ident, current=current)
                log.info("%s %s is gone: its effect is removed", self.kind, self._named(ident))
            self._forget(ident)
            await io.reporter.replace(kind=self.kind, problems=[], names={ident})
            return DONE
        if current is not None and current.uid != str(body.get("uid", "")) and decision.effect is None:
            # Another CR of the same name (the old one was deleted while akod was down): the old
            # one's effect goes; a rejected newcomer changes nothing.
            await self._drop(io=io, ident=ident, current=current)
            current = None
        if decision.effect is not None:
            stop = await self._before_accept(io=io, decision=decision)
            if stop is not None:
                return stop
            new = self._effect_of(body=body, decision=decision)
            if current is None or (current.checksum, current.uid) != (new.checksum, new.uid):
                await io.store.save_cr_effect(new)  # durable before any key applies it
                self._in.crs.put(new)
                await self._mark(old=current.body if current else None, new=new.body)
                log.info("%s %s accepted%s", self.kind, self._named(ident), self._accepted_note(decision.effect))
        await io.reporter.replace(kind=self.kind, problems=list(decision.problems), names={ident})
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
            return requeue(reason=f"writing the status of {self.kind} {self._named(ident)}: {exc.status} {exc.reason}")
        return DONE

    async def _drop(self, *, io: SyncIO, ident: Ident, current: CrEffect) -> None:
        await io.store.drop_cr_effect(kind=self.kind, namespace=ident[0], name=ident[1])
        self._in.crs.drop(self.kind, ident)
        await self._mark(old=current.body, new=None)

    async def _mark(self, *, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> None:
        io = self._io
        if io is None or io.mark is None:
            return
        for key in sorted(self._in.crs.keys_for(self.kind, old=old, new=new)):
            await io.mark(key)

    async def _warn(self, decision: D) -> None:
        """One warning Event per spec naming the fields akod reads but does not apply."""
        io = self._io
        body = decision.body
        fields = self._not_applied(decision)
        if io is None or body is None or not fields or decision.problems:
            return
        ident = (decision.ref.namespace, decision.ref.name)
        spec = effect_checksum(body)
        if self._warned.get(ident) == spec:
            return
        self._warned[ident] = spec
        message = self._not_applied_message(", ".join(fields))
        log.warning("%s %s: %s", self.kind, self._named(ident), message)
        if io.kube is not None:
            await io.kube.post_event(obj=decision.ref, uid=str(body.get("uid", "")), reason="FieldNotApplied",
                                     message=message)

    def _recheck_later(self, key: str) -> None:
        """A named Avi object is missing: judge the CR again in a while (it may appear)."""
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
        return []  # a CR changes the objects of the keys that apply it: their lines name it

    async def describe(self, ref: ObjectRef) -> dict[str, Any] | None:
        ident = ("", ref.name) if self.cluster_scoped else (ref.namespace, ref.name)
        current = self._in.crs.effect(self.kind, ident)
        body = self._bodies().get(ident) or {}
        effect = self._parse_effect(current.body) if current is not None else None
        return {"keys": [self._key_of(ident)], "status": dict(body.get("status") or {}),
                "effect": effect.describe() if effect is not None else None,
                "acts_on_keys": sorted(self._in.crs.keys_for(self.kind, old=None, new=current.body)) if current else [],
                "avi_objects": []}
