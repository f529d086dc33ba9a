"""Finding the Ingress paths the controller refuses in a shard, and leaving only them out.

The search (`l7isolation.isolate`) runs against a scripted controller here: each trial is
"accepted" unless it includes a unit the controller refuses. What a user sees (every other host
served, the refusal on its own Ingress) is checked end to end in tests/e2e/test_l7_isolation.py;
here, the bounds: which units are ever left out, and how many applies it takes.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from akod.avi import AviBadRequest, AviError, AviForbidden
from akod.model.l7context import L7Result, Unit
from akod.model.objects import AviObject, Role
from akod.sync.families.l7isolation import MAX_TRIALS, Exclusions, Trial, isolate, refusal_problem
from akod.sync.family import Translation
from akod.sync.owned import ObjectRejected
from tests.unit.test_l7_bad_input import SERVICES, SHARD0
from tests.unit.test_l7_seed import ingress, names, path, rule, translate

KEY = f"l7:{SHARD0}"
POLICY = AviObject("httppolicyset", "admin", SHARD0, {}, role=Role.POLICY_SET)
SHARD_VS = AviObject("virtualservice", "admin", SHARD0, {}, role=Role.SHARD_VS)


def unit(i: int) -> Unit:
    return ("default", f"ing{i:02d}", f"h{i:02d}.example.com")


def pool_of(u: Unit) -> AviObject:
    return AviObject("pool", "admin", f"pool-{u[1]}", {}, role=Role.POOL)


class Controller:
    """Refuses any apply that includes a unit of `bad`: the shard policy set, or the unit's own pool."""

    def __init__(self, units: Iterable[Unit], bad: Iterable[Unit], *, own_pool: bool = False,
                 error: AviError | None = None, shared_fault: bool = False, obj: AviObject = POLICY) -> None:
        self.units = list(units)
        self.bad = set(bad)
        self.own_pool = own_pool
        self.error = error or AviBadRequest(status=400, message="Invalid match string", method="PATCH",
                                            path="/api/httppolicyset/x")
        self.shared_fault = shared_fault
        self.obj = obj
        self.excluded: set[Unit] = set()
        self.left_out: list[frozenset[Unit]] = []  # what each trial left out besides the exclusions

    def trial(self, extra: frozenset[Unit] = frozenset()) -> Trial:
        included = [u for u in self.units if u not in self.excluded and u not in extra]
        result = L7Result(objects=(), problems=(), served={}, vs_name=SHARD0,
                          units={("pool", pool_of(u).name): frozenset({u}) for u in included},
                          unit_fields={u: "spec.rules[0].host" for u in included})
        t = Translation(key=KEY, detail=result)
        culprits = [u for u in included if u in self.bad]
        if self.shared_fault or culprits:
            obj = pool_of(culprits[0]) if self.own_pool and culprits else self.obj
            return Trial(translation=t, rejection=ObjectRejected(obj=obj, error=self.error))
        return Trial(translation=t, applied={})

    async def attempt(self, extra: frozenset[Unit]) -> Trial:
        self.left_out.append(extra)
        return self.trial(extra)

    def exclude(self, u: Unit, exc: ObjectRejected) -> None:
        self.excluded.add(u)


async def run(ctl: Controller, *, good: Iterable[Unit] = (), limit: int = MAX_TRIALS):  # type: ignore[no-untyped-def]
    known = set(good)

    async def known_good(trial: Trial, u: Unit) -> bool:
        return u in known

    return await isolate(failure=ctl.trial(), attempt=ctl.attempt, known_good=known_good, order=lambda u: u,
                         exclude=ctl.exclude, limit=limit)


async def test_one_refused_unit_among_new_ones_is_found_by_bisection_and_only_it_is_left_out() -> None:
    units = [unit(i) for i in range(8)]
    ctl = Controller(units, bad=[unit(5)])
    done = await run(ctl)
    assert done.found == (unit(5),) and done.trial.ok and not done.exhausted
    assert done.trial.units() == frozenset(units) - {unit(5)}
    assert done.trials <= 2 + 3 + 1  # the refused apply, all suspects out, log2(8) probes, the final apply


async def test_two_refused_units_are_both_found_and_every_other_is_served() -> None:
    units = [unit(i) for i in range(10)]
    ctl = Controller(units, bad=[unit(2), unit(7)])
    done = await run(ctl)
    assert sorted(done.found) == [unit(2), unit(7)] and done.trial.ok
    assert done.trial.units() == frozenset(units) - {unit(2), unit(7)}


async def test_a_refused_object_made_for_one_unit_blames_it_without_a_search() -> None:
    units = [unit(i) for i in range(8)]
    ctl = Controller(units, bad=[unit(3)], own_pool=True)
    done = await run(ctl)
    assert done.found == (unit(3),) and done.trials == 2 and ctl.left_out == [frozenset()]


async def test_known_good_units_are_never_left_out_while_searching() -> None:
    units = [unit(i) for i in range(12)]
    good = units[:8]  # applied as desired already: the controller took them
    ctl = Controller(units, bad=[unit(10)])
    done = await run(ctl, good=good)
    assert done.found == (unit(10),) and done.trial.ok
    assert not any(set(out) & set(good) for out in ctl.left_out)


async def test_a_fault_of_the_shared_object_leaves_nothing_out_and_fails_as_before() -> None:
    units = [unit(i) for i in range(6)]
    ctl = Controller(units, bad=[], shared_fault=True)
    done = await run(ctl, good=units[:2])
    assert done.found == () and not done.trial.ok
    assert done.trials == 2  # the refused apply, then one without every suspect: refused too
    assert ctl.excluded == set()


@pytest.mark.parametrize("ctl", [
    Controller([unit(1)], bad=[unit(1)], error=AviForbidden(status=403, message="Configuration is disallowed during "
                                                             "upgrade", method="PATCH", path="/api/httppolicyset/x")),
    Controller([unit(1), unit(2)], bad=[unit(1)], obj=SHARD_VS),
], ids=["403", "shard-vs"])
async def test_refusals_no_ingress_can_cause_are_not_isolated(ctl: Controller) -> None:
    done = await run(ctl)
    assert done.found == () and done.trials == 1 and ctl.left_out == []


async def test_a_refused_delete_is_not_isolated() -> None:
    ctl = Controller([unit(1)], bad=[unit(1)])
    first = ctl.trial()
    assert first.rejection is not None
    first.rejection.delete = True
    done = await isolate(failure=first, attempt=ctl.attempt, known_good=_never, order=lambda u: u,
                         exclude=ctl.exclude)
    assert done.found == () and ctl.left_out == []


async def _never(trial: Trial, u: Unit) -> bool:
    return False


async def test_the_search_is_bounded_finds_one_unit_per_sync_at_least_and_says_it_must_go_on() -> None:
    units = [unit(i) for i in range(40)]
    bad = {unit(i) for i in range(0, 40, 3)}
    ctl = Controller(units, bad=bad)
    found: set[Unit] = set()
    for sync in range(len(bad)):
        done = await run(ctl, limit=6)
        assert done.trials <= 2 + 2 + len(units).bit_length()  # a search started is finished
        assert done.found and not set(done.found) & found
        found |= set(done.found)
        assert done.trial.ok  # it ends on an apply the controller took, serving what it can
        if not done.exhausted:
            break
    assert found == bad
    assert ctl.trial().ok


def test_an_exclusion_stands_until_its_ingress_changes() -> None:
    exclusions = Exclusions()
    exc = ObjectRejected(obj=POLICY, error=AviBadRequest(status=400, message="bad rule", method="PATCH", path="/x"))
    problem = refusal_problem(unit=unit(1), exc=exc, field="spec.rules[0].host")
    exclusions.add(KEY, unit(1), fingerprint="v1", problem=problem)
    assert list(exclusions.standing(KEY, {("default", "ing01"): "v1"})) == [unit(1)]
    assert exclusions.standing(KEY, {("default", "ing01"): "v2"}) == {}
    assert exclusions.standing(KEY, {("default", "ing01"): "v1"}) == {}  # dropped for good: tried again
    assert problem.obj.name == "ing01" and problem.field == "spec.rules[0].host"
    assert problem.reason == "ControllerRejected" and "bad rule" in problem.message and "h01.example.com" in problem.message


# -- what the model gives the search ------------------------------------------------------------------------

def test_a_unit_left_out_is_not_served_and_the_other_ingress_of_its_host_is() -> None:
    older = ingress("older", rule("foo.com", path("/a", "good", 80)), created="2026-01-01T00:00:00Z")
    newer = ingress("newer", rule("foo.com", path("/b", "good", 80)), rule("noo.com", path("/", "good", 80)),
                    created="2026-01-02T00:00:00Z")
    full = translate([older, newer], services=SERVICES)
    left = translate([older, newer], services=SERVICES, leave_out=frozenset({("default", "newer", "foo.com")}))
    assert sorted(names(left, "pool")) == ["cluster--foo.com_a-default-older", "cluster--noo.com_-default-newer"]
    assert left.served[("default", "newer")] == (("noo.com", SHARD0),)
    assert left.rule_groups["foo.com"] != full.rule_groups["foo.com"]  # the host's group changes without /b
    assert set(full.unit_fields) == {("default", "older", "foo.com"), ("default", "newer", "foo.com"),
                                     ("default", "newer", "noo.com")}
    assert full.unit_fields[("default", "newer", "noo.com")] == "spec.rules[1].host"


def test_units_name_what_each_object_is_made_for_and_groups_name_the_rules() -> None:
    ing = ingress("web", rule("foo.com", path("/a", "good", 80)))
    result = translate([ing], services=SERVICES)
    assert result.units[("pool", "cluster--foo.com_a-default-web")] == frozenset({("default", "web", "foo.com")})
    assert ("httppolicyset", SHARD0) not in result.units  # shared: made for every unit
    (policy,) = [o for o in result.objects if o.obj_type == "httppolicyset"]
    rule_names = [r["name"] for r in policy.body["http_request_policy"]["rules"]]
    assert all(name.startswith(result.rule_groups["foo.com"] + "|") for name in rule_names)
