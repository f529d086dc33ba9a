"""PATCH add / replace / delete: field depth 1 (avi-api.md 2.5), and the merge into object-valued fields."""

from __future__ import annotations

from typing import Any


def route(route_id: str, prefix: str, next_hop: str, *, mask: int = 24) -> dict[str, Any]:
    return {
        "route_id": route_id,
        "prefix": {"ip_addr": {"addr": prefix, "type": "V4"}, "mask": mask},
        "next_hop": {"addr": next_hop, "type": "V4"},
        "labels": [{"key": "clustername", "value": "S1-AZ1"}],
    }


async def vrf(avi: Any, name: str = "VRF_AZ1") -> dict[str, Any]:
    return await avi.by_name("vrfcontext", name)  # type: ignore[no-any-return]


async def test_patch_add_appends_static_routes(avi: Any) -> None:
    target = await vrf(avi)

    first = await avi.patch(
        f"/api/vrfcontext/{target['uuid']}",
        {"add": {"static_routes": [route("r1", "10.244.1.0", "10.10.25.21")]}},
    )
    second = await avi.patch(
        f"/api/vrfcontext/{target['uuid']}",
        {"add": {"static_routes": [route("r2", "10.244.2.0", "10.10.25.22")]}},
    )

    assert first.status == 200 and second.status == 200
    assert [r["route_id"] for r in second.body["static_routes"]] == ["r1", "r2"]
    assert second.body["_last_modified"] != first.body["_last_modified"]


async def test_patch_delete_removes_the_routes_matching_the_given_fields(avi: Any) -> None:
    target = await vrf(avi)
    routes = [
        route("r1", "10.244.1.0", "10.10.25.21"),
        route("r2", "10.244.2.0", "10.10.25.22"),
        route("r3", "10.244.3.0", "10.10.25.23"),
    ]
    await avi.patch(f"/api/vrfcontext/{target['uuid']}", {"add": {"static_routes": routes}})

    answer = await avi.patch(
        f"/api/vrfcontext/{target['uuid']}", {"delete": {"static_routes": [{"route_id": "r2"}]}}
    )

    assert answer.status == 200
    assert [r["route_id"] for r in answer.body["static_routes"]] == ["r1", "r3"]


async def test_patch_replace_sets_a_whole_field(avi: Any) -> None:
    target = await vrf(avi)
    await avi.patch(
        f"/api/vrfcontext/{target['uuid']}",
        {"add": {"static_routes": [route("r1", "10.244.1.0", "10.10.25.21")]}},
    )

    answer = await avi.patch(
        f"/api/vrfcontext/{target['uuid']}",
        {"replace": {"static_routes": [route("only", "10.9.0.0", "10.10.25.9")], "description": "mine"}},
    )

    assert [r["route_id"] for r in answer.body["static_routes"]] == ["only"]
    assert answer.body["description"] == "mine"


async def test_patch_delete_of_pool_servers_matches_on_ip(avi: Any) -> None:
    servers = [{"ip": {"addr": f"10.0.0.{i}", "type": "V4"}, "port": 80} for i in (1, 2, 3)]
    pool = await avi.post("/api/pool", {"name": "servers", "servers": servers})

    answer = await avi.patch(
        f"/api/pool/{pool.body['uuid']}",
        {"delete": {"servers": [{"ip": {"addr": "10.0.0.2", "type": "V4"}}]}},
    )

    assert [s["ip"]["addr"] for s in answer.body["servers"]] == ["10.0.0.1", "10.0.0.3"]


async def test_patch_delete_of_a_scalar_unsets_it(avi: Any) -> None:
    pool = await avi.post("/api/pool", {"name": "scalar", "description": "x", "default_server_port": 8080})

    answer = await avi.patch(
        f"/api/pool/{pool.body['uuid']}", {"delete": {"description": None, "default_server_port": 8080}}
    )

    assert "description" not in answer.body
    assert answer.body["default_server_port"] == 80


async def test_patch_with_a_stale_last_modified_is_412(avi: Any) -> None:
    target = await vrf(avi)
    await avi.patch(f"/api/vrfcontext/{target['uuid']}", {"replace": {"description": "changed"}})

    answer = await avi.patch(
        f"/api/vrfcontext/{target['uuid']}",
        {
            "add": {"static_routes": [route("r1", "10.244.1.0", "10.10.25.21")]},
            "_last_modified": target["_last_modified"],
        },
    )

    assert answer.status == 412


async def test_patch_added_entries_are_validated(avi: Any) -> None:
    target = await vrf(avi)

    answer = await avi.patch(
        f"/api/vrfcontext/{target['uuid']}", {"add": {"static_routes": [{"route_id": "x"}]}}
    )

    assert answer.status == 400
    assert (
        "static_routes[0].next_hop" in answer.body["error"]
        or "static_routes[0].prefix" in answer.body["error"]
    )


async def test_patch_with_an_unknown_operation_is_400(avi: Any) -> None:
    target = await vrf(avi)

    answer = await avi.patch(f"/api/vrfcontext/{target['uuid']}", {"remove": {"static_routes": []}})

    assert answer.status == 400


# -- object-valued fields: the merge incremental rule edits need (patching.py docstring) ---------


def switching_rule(name: str, index: int, host: str, path: str) -> dict[str, Any]:
    return {
        "name": name,
        "index": index,
        "enable": True,
        "match": {
            "host_hdr": {"match_criteria": "HDR_EQUALS", "value": [host]},
            "path": {"match_criteria": "BEGINS_WITH", "match_case": "SENSITIVE", "match_str": [path]},
        },
        "switching_action": {"action": "HTTP_SWITCHING_SELECT_POOL", "pool_ref": "/api/pool/?name=backend"},
    }


async def policy_set(avi: Any, rules: list[dict[str, Any]]) -> dict[str, Any]:
    pool = await avi.post("/api/pool", {"name": "backend"})
    assert pool.status == 201, pool.text
    answer = await avi.post(
        "/api/httppolicyset", {"name": "shard", "http_request_policy": {"rules": rules}}
    )
    assert answer.status == 201, answer.text
    return answer.body  # type: ignore[no-any-return]


async def test_patch_add_into_an_object_appends_to_its_nested_list(avi: Any) -> None:
    shard = await policy_set(avi, [switching_rule("a.com|0", 0, "a.com", "/")])

    answer = await avi.patch(
        f"/api/httppolicyset/{shard['uuid']}",
        {"add": {"http_request_policy": {"rules": [switching_rule("b.com|0", 1, "b.com", "/")]}}},
    )

    assert answer.status == 200, answer.text
    rules = answer.body["http_request_policy"]["rules"]
    assert [(r["name"], r["index"]) for r in rules] == [("a.com|0", 0), ("b.com|0", 1)]
    assert rules[1]["switching_action"]["pool_ref"].split("#")[-1] == "backend"


async def test_patch_delete_in_an_object_removes_the_nested_entries_matching_the_given_fields(
    avi: Any,
) -> None:
    rules = [switching_rule(f"h{i}.com|0", i, f"h{i}.com", "/") for i in range(3)]
    shard = await policy_set(avi, rules)

    answer = await avi.patch(
        f"/api/httppolicyset/{shard['uuid']}",
        {"delete": {"http_request_policy": {"rules": [{"name": "h1.com|0"}]}}},
    )

    assert answer.status == 200, answer.text
    assert [r["name"] for r in answer.body["http_request_policy"]["rules"]] == ["h0.com|0", "h2.com|0"]


async def test_patch_add_into_an_object_sets_nested_scalars_and_keeps_the_rest(avi: Any) -> None:
    shard = await policy_set(avi, [switching_rule("a.com|0", 0, "a.com", "/")])

    answer = await avi.patch(
        f"/api/httppolicyset/{shard['uuid']}",
        {"add": {"http_request_policy": {"rules": []}, "description": "kept"}},
    )

    assert [r["name"] for r in answer.body["http_request_policy"]["rules"]] == ["a.com|0"]
    assert answer.body["description"] == "kept"


async def test_a_patch_carrying_one_rule_edits_a_policy_of_500_rules(avi: Any) -> None:
    shard = await policy_set(avi, [switching_rule(f"h{i}.com|0", i, f"h{i}.com", "/") for i in range(500)])
    added = {"add": {"http_request_policy": {"rules": [switching_rule("new.com|0", 500, "new.com", "/")]}}}
    removed = {"delete": {"http_request_policy": {"rules": [{"name": "h7.com|0"}]}}}

    first = await avi.patch(f"/api/httppolicyset/{shard['uuid']}", removed)
    second = await avi.patch(f"/api/httppolicyset/{shard['uuid']}", added)

    assert first.status == 200 and second.status == 200, (first.text, second.text)
    names = [r["name"] for r in second.body["http_request_policy"]["rules"]]
    assert len(names) == 500 and "h7.com|0" not in names and names[-1] == "new.com|0"
    assert names[:7] == [f"h{i}.com|0" for i in range(7)]  # the other rules were kept, not resent


async def test_two_rules_with_the_same_index_in_one_policy_are_refused(avi: Any) -> None:
    shard = await policy_set(avi, [switching_rule("a.com|0", 0, "a.com", "/")])

    answer = await avi.patch(
        f"/api/httppolicyset/{shard['uuid']}",
        {"add": {"http_request_policy": {"rules": [switching_rule("b.com|0", 0, "b.com", "/")]}}},
    )

    assert answer.status == 400
    assert "Duplicate index 0 in http_request_policy.rules" in answer.body["error"]
    stored = await avi.get(f"/api/httppolicyset/{shard['uuid']}")
    assert [r["name"] for r in stored.body["http_request_policy"]["rules"]] == ["a.com|0"]


async def test_two_rules_with_the_same_name_in_one_policy_are_refused(avi: Any) -> None:
    answer = await avi.post(
        "/api/httppolicyset",
        {"name": "dup", "http_request_policy": {"rules": [
            {"name": "same", "index": 0, "enable": True},
            {"name": "same", "index": 1, "enable": True},
        ]}},
    )

    assert answer.status == 400
    assert "Duplicate name 'same'" in answer.body["error"]


async def test_a_rule_added_without_an_index_is_refused(avi: Any) -> None:
    shard = await policy_set(avi, [switching_rule("a.com|0", 0, "a.com", "/")])
    rule = switching_rule("b.com|0", 1, "b.com", "/")
    del rule["index"]

    answer = await avi.patch(
        f"/api/httppolicyset/{shard['uuid']}", {"add": {"http_request_policy": {"rules": [rule]}}}
    )

    assert answer.status == 400
    assert "http_request_policy.rules[1].index" in answer.body["error"]


async def test_one_patch_can_add_some_rules_delete_others_and_replace_a_field(avi: Any) -> None:
    shard = await policy_set(avi, [switching_rule(f"h{i}.com|old|0", i, f"h{i}.com", "/") for i in range(3)])

    answer = await avi.patch(f"/api/httppolicyset/{shard['uuid']}", {
        "replace": {"cloud_config_cksum": "42"},
        "add": {"http_request_policy": {"rules": [switching_rule("h1.com|new|0", 3, "h1.com", "/v2")]}},
        "delete": {"http_request_policy": {"rules": [{"name": "h1.com|old|0"}]}},
    })

    assert answer.status == 200, answer.text
    rules = answer.body["http_request_policy"]["rules"]
    assert [(r["name"], r["index"]) for r in rules] == [
        ("h0.com|old|0", 0), ("h2.com|old|0", 2), ("h1.com|new|0", 3),
    ]
    assert answer.body["cloud_config_cksum"] == "42"
