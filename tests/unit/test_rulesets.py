"""The shard policy set's incremental PATCH: only changed hosts travel, indexes never collide."""

from __future__ import annotations

import json
from typing import Any

from akod.model.checksums import checksum
from akod.model.objects import AviObject
from akod.sync import rulesets


def host_rules(host: str, paths: list[str]) -> list[dict[str, Any]]:
    body = [{"enable": True, "match": {"host_hdr": {"match_criteria": "HDR_EQUALS", "value": [host]},
                                       "path": {"match_criteria": "BEGINS_WITH", "match_str": [p]}},
             "switching_action": {"action": "HTTP_SWITCHING_SELECT_POOL", "pool_ref": f"/api/pool/?name={host}{p}"}}
            for p in paths]
    group = checksum(body)[:8]
    return [{**r, "name": f"{host}|{group}|{i}"} for i, r in enumerate(body)]


def policy(hosts: dict[str, list[str]]) -> AviObject:
    rules = [r for host, paths in sorted(hosts.items()) for r in host_rules(host, paths)]
    return AviObject(obj_type="httppolicyset", tenant="admin", name="c--Shared-L7-0",
                     body={"name": "c--Shared-L7-0", "created_by": "ako-c", "http_request_policy": {"rules": rules}})


def controller_copy(obj: AviObject, payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "uuid": "httppolicyset-1"}


def apply_patch(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The emulator's merge, reduced to what the policy set needs."""
    rules = list(current["http_request_policy"]["rules"])
    rules += patch.get("add", {}).get("http_request_policy", {}).get("rules", [])
    gone = {r["name"] for r in patch.get("delete", {}).get("http_request_policy", {}).get("rules", [])}
    return {**current, **patch.get("replace", {}),
            "http_request_policy": {"rules": [r for r in rules if r["name"] not in gone]}}


def test_a_new_policy_set_gets_indexes_in_order_and_its_shell_checksum() -> None:
    obj = policy({"a.com": ["/x/y", "/x"], "b.com": ["/"]})
    assert rulesets.incremental(obj)
    payload = rulesets.full_payload(obj, obj.payload())
    assert [r["index"] for r in payload["http_request_policy"]["rules"]] == [0, 1, 2]
    info = rulesets.applied_info(controller_copy(obj, payload))
    assert info["next"] == 3 and set(info["groups"]) == {
        rulesets.group_of(r["name"]) for r in obj.body["http_request_policy"]["rules"]}
    assert info["shell"] == rulesets.shell_checksum(obj.body)


def test_adding_a_path_sends_only_that_host_and_the_size_does_not_grow_with_the_shard() -> None:
    small = {f"h{i}.com": ["/"] for i in range(5)}
    big = {f"h{i}.com": ["/"] for i in range(500)}
    sizes = []
    for hosts in (small, big):
        obj = policy(hosts)
        current = controller_copy(obj, rulesets.full_payload(obj, obj.payload()))
        changed = policy({**hosts, "h1.com": ["/api", "/"]})
        patch = rulesets.plan_patch(obj=changed, info=rulesets.applied_info(current))
        assert patch is not None and patch.added == 2 and patch.deleted == 1
        after = apply_patch(current, patch.body)
        indexes = [r["index"] for r in after["http_request_policy"]["rules"]]
        assert len(indexes) == len(set(indexes))
        assert sorted(r["name"] for r in after["http_request_policy"]["rules"]) == sorted(
            r["name"] for r in changed.body["http_request_policy"]["rules"])
        assert after["cloud_config_cksum"] == changed.checksum
        sizes.append(len(json.dumps(patch.body)))
    assert sizes[1] - sizes[0] < 16  # only the digits of the new indexes differ


def test_a_removed_host_is_deleted_and_nothing_added() -> None:
    obj = policy({"a.com": ["/"], "b.com": ["/"]})
    current = controller_copy(obj, rulesets.full_payload(obj, obj.payload()))
    patch = rulesets.plan_patch(obj=policy({"a.com": ["/"]}), info=rulesets.applied_info(current))
    assert patch is not None and (patch.added, patch.deleted) == (0, 1)
    assert "add" not in patch.body


def test_a_changed_shell_or_unknown_state_needs_a_rewrite() -> None:
    obj = policy({"a.com": ["/"]})
    current = controller_copy(obj, rulesets.full_payload(obj, obj.payload()))
    info = rulesets.applied_info(current)
    reshaped = AviObject(obj_type="httppolicyset", tenant="admin", name=obj.name,
                         body={**obj.body, "created_by": "ako-other"})
    assert rulesets.plan_patch(obj=reshaped, info=info) is None
    assert rulesets.plan_patch(obj=obj, info={}) is None


def test_indexed_policy_sets_are_written_whole() -> None:
    body = {"name": "c--default-foo.com", "http_request_policy": {"rules": [{"name": "r", "index": 0}]}}
    assert not rulesets.incremental(AviObject(obj_type="httppolicyset", tenant="admin", name="x", body=body))
    assert not rulesets.incremental(AviObject(obj_type="pool", tenant="admin", name="x", body={}))
