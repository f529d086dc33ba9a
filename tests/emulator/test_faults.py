"""Injected faults (POST /_emulator/faults), for testing clients against a controller in trouble."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from akod.emulator.server import EmulatorServer


async def set_faults(side_door: aiohttp.ClientSession, body: dict[str, Any]) -> None:
    async with side_door.post("/_emulator/faults", json=body) as rsp:
        assert rsp.status == 200, await rsp.text()


async def test_an_error_rule_with_probability_one_answers_its_status(
    avi: Any, side_door: aiohttp.ClientSession
) -> None:
    await set_faults(
        side_door,
        {"errors": [{"method": "POST", "path": "/api/virtualservice", "status": 503, "probability": 1}]},
    )

    failed = await avi.post("/api/virtualservice", {"name": "vs"})
    other_method = await avi.get("/api/virtualservice")
    other_path = await avi.post("/api/pool", {"name": "p"})

    assert failed.status == 503
    assert other_method.status == 200 and other_path.status == 201


async def test_an_error_rule_with_a_count_stops_after_that_many(
    avi: Any, side_door: aiohttp.ClientSession
) -> None:
    await set_faults(
        side_door, {"errors": [{"path": "/api/pool", "status": 500, "probability": 1, "count": 2}]}
    )

    statuses = [(await avi.get("/api/pool")).status for _ in range(4)]

    assert statuses == [500, 500, 200, 200]


async def test_an_error_rule_with_body_contains_refuses_only_writes_holding_that_text(
    avi: Any, side_door: aiohttp.ClientSession
) -> None:
    await set_faults(side_door, {"errors": [{"path": "/api/pool", "status": 422, "body_contains": "bad.host",
                                             "message": "Invalid pool name"}]})

    refused = await avi.post("/api/pool", {"name": "pool-bad.host"})
    other = await avi.post("/api/pool", {"name": "pool-good.host"})
    read = await avi.get("/api/pool")

    assert refused.status == 422 and "Invalid pool name" in refused.text
    assert other.status == 201 and read.status == 200


async def test_requests_beyond_the_rate_limit_burst_are_429_with_retry_after(
    avi: Any, side_door: aiohttp.ClientSession
) -> None:
    await set_faults(side_door, {"rate_limit": {"rate": 0.01, "burst": 3}})

    answers = [await avi.get("/api/cloud") for _ in range(4)]

    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1


async def test_reset_probability_one_drops_the_connection_without_an_answer(
    avi: Any, side_door: aiohttp.ClientSession
) -> None:
    await set_faults(side_door, {"reset_probability": 1.0})

    with pytest.raises(aiohttp.ClientError):
        await avi.get("/api/cloud")

    async with side_door.get("/_emulator/requests") as rsp:
        log = await rsp.json()
    assert log[-1]["path"] == "/api/cloud" and log[-1]["status"] == 0


async def test_latency_delays_reads_and_writes_separately(avi: Any, side_door: aiohttp.ClientSession) -> None:
    await set_faults(side_door, {"latency_ms": {"read": 150, "write": 0}})

    started = time.monotonic()
    await avi.get("/api/cloud")
    read_took = time.monotonic() - started
    started = time.monotonic()
    await avi.post("/api/pool", {"name": "fast"})
    write_took = time.monotonic() - started

    assert read_took >= 0.15
    assert write_took < 0.15


async def test_session_ttl_ends_sessions_that_long_after_login(
    avi: Any, side_door: aiohttp.ClientSession
) -> None:
    await set_faults(side_door, {"session_ttl_s": 0.05})

    deadline = time.monotonic() + 5
    status = 200
    while status != 401 and time.monotonic() < deadline:
        status = (await avi.get("/api/cloud")).status
        await asyncio.sleep(0.01)
    assert status == 401

    assert (await avi.login()).status == 200
    assert (await avi.get("/api/cloud")).status == 200  # a fresh session works until its ttl


async def test_down_answers_503_everywhere_but_the_side_door(
    anonymous: Any, side_door: aiohttp.ClientSession
) -> None:
    await set_faults(side_door, {"down": True})

    assert (await anonymous.login()).status == 503
    assert (await anonymous.get("/api/cluster/status")).status == 503
    async with side_door.get("/_emulator/stats") as rsp:
        assert rsp.status == 200


async def test_a_malformed_fault_set_is_400_naming_the_key(side_door: aiohttp.ClientSession) -> None:
    async with side_door.post(
        "/_emulator/faults", json={"errors": [{"status": 503, "probability": 2}]}
    ) as rsp:
        assert rsp.status == 400
        assert "errors[0].probability" in (await rsp.json())["error"]


async def test_reset_clears_the_faults(avi: Any, side_door: aiohttp.ClientSession) -> None:
    await set_faults(side_door, {"errors": [{"path": "/api", "status": 502, "probability": 1}]})
    assert (await avi.get("/api/cloud")).status == 502

    async with side_door.post("/_emulator/reset") as rsp:
        assert rsp.status == 200

    assert (await avi.get("/api/cloud")).status == 200


async def test_faults_given_at_start_apply_from_the_first_request() -> None:
    async with EmulatorServer(
        faults={"errors": [{"path": "/login", "status": 502, "probability": 1}]}
    ) as emu:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{emu.url}/login", data={"username": "admin", "password": "admin"}) as rsp,
        ):
            assert rsp.status == 502
