"""The /_emulator side door: request log, counters, object dump, reset."""

from __future__ import annotations

from typing import Any

import aiohttp

from akod.emulator.server import EmulatorServer


async def test_the_request_log_records_each_call_with_its_outcome(
    avi: Any, side_door: aiohttp.ClientSession
) -> None:
    await avi.post("/api/pool", {"name": "logged"})
    await avi.get("/api/pool?name=logged")
    await avi.get("/api/pool/pool-missing")

    async with side_door.get("/_emulator/requests") as rsp:
        log = await rsp.json()

    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("POST", "/login", 200),
        ("POST", "/api/pool", 201),
        ("GET", "/api/pool", 200),
        ("GET", "/api/pool/pool-missing", 404),
    ]
    assert log[2]["query"] == {"name": "logged"} and log[2]["tenant"] == "admin"
    assert all(isinstance(e["t"], float) for e in log)


async def test_the_request_log_answers_only_what_came_since_a_time(
    avi: Any, side_door: aiohttp.ClientSession
) -> None:
    await avi.post("/api/pool", {"name": "before"})
    async with side_door.get("/_emulator/requests") as rsp:
        cut = (await rsp.json())[-1]["t"] + 1e-6
    await avi.post("/api/pool", {"name": "after"})

    async with side_door.get(f"/_emulator/requests?since={cut}&method=POST") as rsp:
        recent = await rsp.json()
    async with side_door.get("/_emulator/requests?since=soon") as rsp:
        refused = (rsp.status, await rsp.text())

    assert [(e["method"], e["path"]) for e in recent] == [("POST", "/api/pool")]
    assert recent[0]["t"] >= cut
    assert refused[0] == 400 and "since" in refused[1]


async def test_stats_count_calls_by_method_and_object_type(
    avi: Any, side_door: aiohttp.ClientSession
) -> None:
    await avi.post("/api/pool", {"name": "a"})
    await avi.post("/api/pool", {"name": "b"})
    await avi.get("/api/vsvip")

    async with side_door.get("/_emulator/stats") as rsp:
        stats = await rsp.json()

    assert stats["by_method"] == {"POST": 3, "GET": 1}
    assert stats["by_type"]["pool"] == {"POST": 2}
    assert stats["by_type"]["vsvip"] == {"GET": 1}
    assert stats["objects"]["pool"] == 2


async def test_objects_dumps_a_type_without_a_session(avi: Any, side_door: aiohttp.ClientSession) -> None:
    await avi.post("/api/pool", {"name": "dumped"})

    async with side_door.get("/_emulator/objects?type=pool") as rsp:
        dump = await rsp.json()

    assert dump["count"] == 1 and dump["results"][0]["name"] == "dumped"


async def test_reset_restores_the_fixtures_and_clears_the_log(
    avi: Any, side_door: aiohttp.ClientSession, emulator: EmulatorServer
) -> None:
    await avi.post("/api/pool", {"name": "temporary"})
    vrf_uuid = (await avi.by_name("vrfcontext", "global"))["uuid"]

    async with side_door.post("/_emulator/reset") as rsp:
        assert rsp.status == 200

    assert emulator.state.find("pool", "temporary") is None
    assert (await avi.by_name("vrfcontext", "global"))["uuid"] == vrf_uuid  # fixture uuids are stable
    async with side_door.get("/_emulator/requests") as rsp:
        assert [e["path"] for e in await rsp.json()] == ["/api/vrfcontext"]


async def test_state_is_inspectable_in_process(avi: Any, emulator: EmulatorServer) -> None:
    await avi.post("/api/pool", {"name": "inspect", "servers": [{"ip": {"addr": "1.1.1.1", "type": "V4"}}]})

    pool = emulator.state.find("pool", "inspect")
    rendered = emulator.state.objects("pool")

    assert pool is not None and pool.body["servers"][0]["ip"]["addr"] == "1.1.1.1"
    assert rendered[0]["tenant_ref"] == "https://emulator/api/tenant/admin#admin"
