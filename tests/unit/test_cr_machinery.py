"""The CR machinery, pure parts: the Avi ref checks' cache, effects and the keys they touch, the trim."""

from __future__ import annotations

import asyncio

from akod.kube.trimming import trim_custom_resource
from akod.model.crs import AviRef
from akod.store import CrEffect
from akod.sync.crs import CrState, RefChecker, effect_checksum, status_differs


def test_found_objects_are_remembered_for_a_while_missing_ones_never_and_a_changed_spec_asks_again() -> None:
    asked: list[tuple[str, str]] = []
    there = {("wafpolicy", "w")}
    now = [0.0]

    async def exists(obj_type: str, name: str) -> bool:
        asked.append((obj_type, name))
        return (obj_type, name) in there

    checker = RefChecker(exists=exists, ttl_s=300, clock=lambda: now[0])
    refs = [AviRef("spec.virtualhost.wafPolicy", "wafpolicy", "w"), AviRef("spec.x", "applicationprofile", "gone"),
            AviRef("spec.virtualhost.wafPolicy", "wafpolicy", "w")]
    assert asyncio.run(checker.missing(refs)) == [refs[1]]
    assert asked == [("wafpolicy", "w"), ("applicationprofile", "gone")]
    asyncio.run(checker.missing(refs))
    assert asked[2:] == [("applicationprofile", "gone")]  # the WAF policy is remembered
    asyncio.run(checker.missing(refs, fresh=True))
    assert asked[3:] == [("wafpolicy", "w"), ("applicationprofile", "gone")]
    now[0] = 301.0
    asyncio.run(checker.missing(refs))
    assert asked[5:] == [("wafpolicy", "w"), ("applicationprofile", "gone")]


def test_an_effect_change_marks_the_keys_every_applying_family_names() -> None:
    state = CrState()
    state.affects("HostRule", lambda old, new: {f"l7:{(new or old or {}).get('name')}"})
    effect = CrEffect(kind="HostRule", namespace="default", name="r", uid="u", body={"name": "r"}, checksum="c")
    state.put(effect)
    assert state.version("HostRule") == 1 and state.effect("HostRule", ("default", "r")) == effect
    assert state.keys_for("HostRule", old=None, new=effect.body) == {"l7:r"}
    assert state.drop("HostRule", ("default", "r")) == effect and state.version("HostRule") == 2
    assert state.keys_for("L4Rule", old=None, new={}) == set()


def test_a_cr_is_trimmed_to_identity_spec_and_status_and_its_effect_ignores_the_status() -> None:
    raw = {"apiVersion": "ako.vmware.com/v1beta1", "kind": "HostRule",
           "metadata": {"name": "r", "namespace": "default", "uid": "u1", "resourceVersion": "7", "generation": 2,
                        "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{"big": "x"}]},
           "spec": {"virtualhost": {"fqdn": "a.b"}}, "status": {"status": "Accepted"}}
    obs = trim_custom_resource("HostRule")(raw)
    assert (obs.kind, obs.namespace, obs.name, obs.uid, obs.resource_version) == ("HostRule", "default", "r", "u1", "7")
    assert obs.body["status"] == {"status": "Accepted", "error": ""} and "managedFields" not in str(obs.body)
    rejected = {**obs.body, "status": {"status": "Rejected", "error": "x"}}
    assert effect_checksum(obs.body) == effect_checksum(rejected)
    assert not status_differs(obs.body, {"status": "Accepted", "error": ""})
    assert status_differs(rejected, {"status": "Accepted", "error": ""})
