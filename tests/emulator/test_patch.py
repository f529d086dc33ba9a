"""PATCH add / replace / delete at field depth 1 (avi-api.md 2.5)."""

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
