"""When the controller refuses part of a shard: find whose part it is, leave it out, serve the rest.

A shard's objects are written together: its VIP, its policy set with the rules of every host, the
pools of every host. If the controller refuses one of them (400 or 422: about the object's
content, so the same write can never succeed), the key used to stop there, and every host of the
shard went unserved, the new ones for good. Whatever the model cannot foresee about what the
controller accepts must cost only the Ingress that brought it.

The unit left out is a *unit*: one Ingress's paths of one host (another Ingress's paths of the
same host stay). Finding it:

1. The refused object is made for one unit (a pool, a pool group; a host's SNI objects when one
   Ingress uses the host): that unit is left out. No search.
2. Otherwise (the shard's policy set or VsVip, or a host's SNI child several Ingresses share) the suspects are the units the object is made for (all of the key's for a shared
   object) that are not known good: a unit is known good when everything made for it, its group
   of rules in the shard policy set included, is applied on the controller as desired now (so the
   controller took it already). No suspect: the fault is the shared object's own, and the key
   fails as before (reported on every Ingress, retried with backoff). So does a refused shard VS
   (it holds nothing of any host), a refused DELETE, and any refusal but 400 and 422 (a 403 may
   be an upgrade in progress or a missing permission: nothing an Ingress can cause).
3. With suspects, a trial leaves all of them out. If the controller refuses that too, the fault
   is elsewhere: back to 1 with that answer. If it accepts, a binary search over the suspects
   (oldest Ingress first) finds the shortest prefix the controller refuses when added; its last
   unit is the one: with the units before it the write is accepted, with it refused. Every
   accepted trial serves more hosts, and each trial is an ordinary apply: journaled, ordered,
   idempotent.

Bounded: at most `MAX_TRIALS` applies per sync (each finding costs about log2(suspects) + 2; a
search once started gets what it needs to finish, so every sync finds at least one unit). When
they run out, the key is requeued (with backoff) and goes on from what was found. A unit left out
stays out, with a `ControllerRejected` problem on its Ingress naming the refused object and the
controller's words, until the Ingress changes (or akod restarts); the caller keeps that record.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from akod.model.l7context import L7Result, Unit
from akod.model.objects import AviObject, Role
from akod.model.problems import ObjectRef, Problem, quoted
from akod.store import Applied
from akod.sync.family import Translation
from akod.sync.owned import Ident, ObjectRejected

log = logging.getLogger("akod.sync")
MAX_TRIALS = 12
ISOLATED_STATUSES = frozenset({400, 422})  # the controller refuses the content; 403 and the rest are not isolated


@dataclass
class Trial:
    """One apply of the key with some units left out: its translation, and what became of it."""

    translation: Translation
    applied: dict[Ident, Applied] | None = None
    rejection: ObjectRejected | None = None
    _made_for: dict[Unit, list[tuple[str, str]]] | None = field(default=None, repr=False)
    _desired: dict[tuple[str, str], AviObject] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.rejection is None

    @property
    def result(self) -> L7Result:
        detail: L7Result = self.translation.detail
        return detail

    def units(self) -> frozenset[Unit]:
        """The units this trial served (tried to serve)."""
        return frozenset(self.result.unit_fields)

    def units_of(self, exc: ObjectRejected) -> frozenset[Unit]:
        return self.result.units.get((exc.obj.obj_type, exc.obj.name), frozenset()) & self.units()

    def desired(self, ident: tuple[str, str]) -> AviObject | None:
        """The object of this trial's translation of that (type, name)."""
        if self._desired is None:
            self._desired = {(o.obj_type, o.name): o for o in self.translation.objects}
        return self._desired.get(ident)

    def made_for(self, unit: Unit) -> list[tuple[str, str]]:
        """The (type, name) of every object made for `unit` (its pools, its host's SNI objects...)."""
        if self._made_for is None:
            self._made_for = {}
            for ident, units in self.result.units.items():
                for u in units:
                    self._made_for.setdefault(u, []).append(ident)
        return self._made_for.get(unit, [])


Attempt = Callable[[frozenset[Unit]], Awaitable[Trial]]  # the units to leave out besides those excluded
KnownGood = Callable[[Trial, Unit], Awaitable[bool]]
Exclude = Callable[[Unit, ObjectRejected], None]


@dataclass(frozen=True)
class Isolation:
    """How the search ended: its last trial (applied when ok), the units found, the applies it took."""

    trial: Trial
    found: tuple[Unit, ...]
    trials: int
    exhausted: bool  # stopped by MAX_TRIALS: the key must be synced again to go on


def isolable(exc: ObjectRejected | None) -> bool:
    """A refusal a unit can have caused: a write (not a delete) refused for its content.

    A shard's VS holds nothing of any host (its body is the same with one host or a thousand):
    its refusal is the shard's own, and leaving units out could only make it worse.
    """
    return (exc is not None and not exc.delete and exc.error.status in ISOLATED_STATUSES
            and exc.obj.role != Role.SHARD_VS)


async def isolate(*, failure: Trial, attempt: Attempt, known_good: KnownGood, order: Callable[[Unit], Any],
                  exclude: Exclude, limit: int = MAX_TRIALS) -> Isolation:
    """From a refused apply (`failure`) to an accepted one, leaving out the units the controller refuses.

    `attempt(extra)` translates and applies the key leaving out `extra` besides what `exclude` has
    recorded; `exclude(unit, why)` records a unit found (the caller reports and keeps it).
    """
    trials = 1
    found: list[Unit] = []
    accepted: Trial | None = None  # the last apply the controller took, to end on if the budget runs out

    def finding(unit: Unit, exc: ObjectRejected) -> None:
        log.warning("the controller refuses %s %s with the paths of Ingress %s/%s for %s (%s); serving the shard "
                    "without them", exc.obj.obj_type, exc.obj.name, unit[0], unit[1], unit[2], exc.error.message)
        found.append(unit)
        exclude(unit, exc)

    def ended(last: Trial) -> Isolation:
        exhausted = isolable(last.rejection) and trials >= limit
        return Isolation(trial=accepted if exhausted and accepted is not None else last, found=tuple(found),
                         trials=trials, exhausted=exhausted)

    while isolable(failure.rejection) and trials < limit:
        exc = failure.rejection
        assert exc is not None
        blamed = failure.units_of(exc)
        if len(blamed) == 1:
            finding(next(iter(blamed)), exc)
            failure = await attempt(frozenset())
            trials += 1
            continue
        pool: Sequence[Unit] = sorted(blamed or failure.units(), key=order)
        suspects = [u for u in pool if not await known_good(failure, u)]
        if not suspects:
            break  # the shared object's own fault: nothing to leave out
        trial = await attempt(frozenset(suspects))
        trials += 1
        if trial.rejection is not None:
            failure = trial  # refused without any suspect: look at that answer instead
            continue
        # Binary search: the shortest prefix of the suspects that the controller refuses when added.
        # It gets the applies it needs (a search cut short would start over at the next sync).
        lo, hi, proof, accepted = 0, len(suspects), exc, trial
        while hi - lo > 1:
            mid = (lo + hi) // 2
            probe = await attempt(frozenset(suspects[mid:]))
            trials += 1
            if probe.rejection is None:
                lo, accepted = mid, probe
            elif isolable(probe.rejection):
                hi, proof = mid, probe.rejection
            else:
                return Isolation(trial=probe, found=tuple(found), trials=trials, exhausted=False)
        finding(suspects[hi - 1], proof)
        if trials >= limit:
            return Isolation(trial=accepted, found=tuple(found), trials=trials, exhausted=True)
        failure = await attempt(frozenset())
        trials += 1
    return ended(failure)


# -- what is left out, and why -----------------------------------------------------------------------------


def refusal_problem(*, unit: Unit, exc: ObjectRejected, field: str) -> Problem:
    """The problem of a unit left out: on its Ingress, naming the refused object and the controller's words."""
    ns, name, host = unit
    return Problem(obj=ObjectRef(kind="Ingress", namespace=ns, name=name), field=field, reason="ControllerRejected",
                   message=(f"the controller refused {exc.obj.obj_type} {exc.obj.name} with this Ingress's paths for "
                            f"{host} ({exc.error.status}: {quoted(exc.error.message, limit=300)}); the shard is "
                            "served without them, and akod tries them again when the Ingress changes"))


@dataclass(frozen=True, slots=True)
class Exclusion:
    fingerprint: str  # of the Ingress when its unit was left out: another one means "try again"
    problem: Problem


class Exclusions:
    """The units left out of each key, each until its Ingress changes (kept in memory: a restart retries)."""

    def __init__(self) -> None:
        self._by_key: dict[str, dict[Unit, Exclusion]] = {}

    def standing(self, key: str, fingerprints: Mapping[tuple[str, str], str]) -> dict[Unit, Exclusion]:
        """The exclusions of `key` whose Ingress is unchanged (the others are dropped: tried again)."""
        held = self._by_key.get(key)
        if not held:
            return {}
        for unit, why in list(held.items()):
            if fingerprints.get((unit[0], unit[1])) != why.fingerprint:
                log.info("Ingress %s/%s changed: its paths for %s are tried again", unit[0], unit[1], unit[2])
                del held[unit]
        if not held:
            del self._by_key[key]
        return dict(held)

    def add(self, key: str, unit: Unit, *, fingerprint: str, problem: Problem) -> None:
        self._by_key.setdefault(key, {})[unit] = Exclusion(fingerprint=fingerprint, problem=problem)

    def count(self) -> int:
        return sum(len(held) for held in self._by_key.values())
