"""The L4 family's side of L4Rules: which L4 keys an L4Rule acts on, and what the translation reads.

Pure: a `CrState` with effects put in it, Services as the cluster cache holds them, the L4
family's Service -> key index as a plain dict.
"""

from __future__ import annotations

from typing import Any

from akod.model.l4rule import KIND
from akod.store import CrEffect
from akod.sync.crs import CrState
from akod.sync.families.l4rules import L4RuleIndex
from tests.unit.test_l4rule_model import l4rule


def svc(ns: str, name: str, rule: str = "") -> dict[str, Any]:
    return {"namespace": ns, "name": name, "annotations": {"ako.vmware.com/l4rule": rule} if rule else {}}


SERVICES = {("default", "a"): svc("default", "a", "r"), ("default", "b"): svc("default", "b"),
            ("blue", "c"): svc("blue", "c", "default/r"), ("blue", "d"): svc("blue", "d", "r")}
KEYS = {ident: f"l4:S1-AZ1--{ident[0]}-{ident[1]}" for ident in SERVICES}


def index(present: dict[tuple[str, str], Any], crs: CrState | None = None) -> tuple[L4RuleIndex, CrState]:
    crs = crs or CrState()
    return L4RuleIndex(crs=crs, services=lambda: SERVICES, key_of=KEYS, present=lambda: present), crs


def effect(body: dict[str, Any]) -> CrEffect:
    return CrEffect(kind=KIND, namespace=body["namespace"], name=body["name"], uid=body["uid"],
                    body={k: v for k, v in body.items() if k != "status"}, checksum="c")


def test_an_effect_change_marks_the_keys_of_the_services_naming_the_l4rule_in_any_namespace() -> None:
    rule = l4rule({"networkProfileRef": "p"}, name="r")
    _, crs = index({("default", "r"): rule})
    assert crs.keys_for(KIND, old=None, new=effect(rule).body) == {KEYS[("default", "a")], KEYS[("blue", "c")]}
    blue = l4rule({}, name="r", namespace="blue")
    assert crs.keys_for(KIND, old=effect(blue).body, new=None) == {KEYS[("blue", "d")]}


def test_the_translation_reads_only_the_effects_of_l4rules_that_exist_and_the_status_of_all() -> None:
    rule = l4rule({"networkProfileRef": "p"}, name="r")
    present: dict[tuple[str, str], Any] = {("default", "r"): rule}
    found, crs = index(present)
    crs.put(effect(rule))
    assert set(found.accepted().effects) == {("default", "r")}
    present.clear()  # deleted: its effect is not applied even before its own key drops it
    assert found.accepted().effects == {} and found.accepted().present == {}
