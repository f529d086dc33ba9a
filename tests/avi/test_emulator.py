"""The client against the Avi controller emulator: login, CRUD, paging, and faults absorbed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from akod.avi import (
    AviClient,
    AviConflict,
    AviOutcomeUnknown,
    AviPreconditionFailed,
    AviUnavailable,
    Pacer,
)
from akod.emulator.server import EmulatorServer

from .conftest import FAST_BACKOFF, CallLog

SERVER = {"ip": {"addr": "10.1.1.1", "type": "V4"}, "port": 8080}


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(fixtures="seed", strict=True) as server:
        yield server


@pytest.fixture
def make_emu_client(emu: EmulatorServer, calls: CallLog) -> Callable[..., AviClient]:
    def make(**overrides: Any) -> AviClient:
        options: dict[str, Any] = {
            "base_url": emu.url,
            "username": "admin",
            "password": "admin",
            "pacer": Pacer(rate=0, burst=1, workers=8),
            "observer": calls,
            "timeout_s": 5.0,
            **FAST_BACKOFF,
            **overrides,
        }
        return AviClient(**options)

    return make


async def _side_door(emu: EmulatorServer, method: str, path: str, body: Any = None) -> Any:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"{emu.url}/_emulator/{path}", json=body) as response:
            assert response.status == 200, await response.text()
            return await response.json()


async def _requests(emu: EmulatorServer, method: str, path: str) -> list[dict[str, Any]]:
    entries = await _side_door(emu, "GET", f"requests?method={method}&path={path}")
    return [e for e in entries if e["method"] == method and e["path"] == path]


async def test_login_learns_the_controller_version(
    make_emu_client: Callable[..., AviClient],
) -> None:
    async with make_emu_client() as client:
        await client.login()
        assert client.connected
        assert client.controller_version
        assert client.api_version == client.controller_version
        assert await client.get_by_name("cloud", "Default-Cloud") is not None


async def test_pool_round_trip(
    emu: EmulatorServer, make_emu_client: Callable[..., AviClient]
) -> None:
    async with make_emu_client() as client:
        created = await client.post("pool", {"name": "web", "servers": [SERVER]})
        found = await client.get_by_name("pool", "web")
        assert found is not None and found["uuid"] == created["uuid"]
        with pytest.raises(AviConflict):
            await client.post("pool", {"name": "web"})

        updated = await client.put(
            "pool", created["uuid"], {**found, "lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN"}
        )
        assert updated["lb_algorithm"] == "LB_ALGORITHM_ROUND_ROBIN"
        with pytest.raises(AviPreconditionFailed):
            await client.put("pool", created["uuid"], found)  # stale `_last_modified`

        extra = {"ip": {"addr": "10.1.1.2", "type": "V4"}, "port": 8080}
        patched = await client.patch("pool", created["uuid"], {"add": {"servers": [extra]}})
        assert len(patched["servers"]) == 2

        await client.delete("pool", created["uuid"])
        await client.delete("pool", created["uuid"])  # already gone: still a success
        assert await client.get_by_name("pool", "web") is None


async def test_list_follows_the_emulators_pages(
    emu: EmulatorServer, make_emu_client: Callable[..., AviClient]
) -> None:
    async with make_emu_client() as client:
        for i in range(5):
            await client.post("pool", {"name": f"pool-{i}"})
        paged = await client.list("pool", params={"page_size": "2"})
        whole = await client.list("pool")
    assert sorted(p["name"] for p in paged) == [f"pool-{i}" for i in range(5)]
    assert [p["uuid"] for p in paged] == [p["uuid"] for p in whole]
    queries = [e["query"] for e in await _requests(emu, "GET", "/api/pool")]
    assert [q.get("page") for q in queries[:3]] == [None, "2", "3"]
    assert queries[3] == {"page_size": "200"}


async def test_injected_503s_on_create_are_absorbed(
    emu: EmulatorServer, make_emu_client: Callable[..., AviClient]
) -> None:
    rule = {"method": "POST", "path": "/api/pool", "status": 503, "probability": 1.0, "count": 2}
    await _side_door(emu, "POST", "faults", {"errors": [rule]})
    async with make_emu_client() as client:
        await client.post("pool", {"name": "web"})
    statuses = [e["status"] for e in await _requests(emu, "POST", "/api/pool")]
    assert statuses == [503, 503, 201]


async def test_a_controller_that_stays_broken_is_unavailable(
    emu: EmulatorServer, make_emu_client: Callable[..., AviClient]
) -> None:
    rule = {"method": "POST", "path": "/api/pool", "status": 503, "probability": 1.0}
    await _side_door(emu, "POST", "faults", {"errors": [rule]})
    async with make_emu_client(max_attempts=4) as client:
        with pytest.raises(AviUnavailable) as caught:
            await client.post("pool", {"name": "web"})
    assert caught.value.status == 503
    assert len(await _requests(emu, "POST", "/api/pool")) == 4


async def test_an_expired_session_is_renewed_transparently(
    emu: EmulatorServer, make_emu_client: Callable[..., AviClient]
) -> None:
    await _side_door(emu, "POST", "faults", {"session_ttl_s": 1})
    async with make_emu_client() as client:
        deadline = time.monotonic() + 5
        while len(await _requests(emu, "POST", "/login")) < 2:
            assert time.monotonic() < deadline, "the session never expired"
            await client.list("pool")  # each call either reuses the session or renews it
    refused = [e for e in await _requests(emu, "GET", "/api/pool") if e["status"] in (401, 419)]
    assert len(refused) == 1


async def test_429s_past_the_controllers_rate_limit_are_absorbed(
    emu: EmulatorServer, make_emu_client: Callable[..., AviClient], calls: CallLog
) -> None:
    await _side_door(emu, "POST", "faults", {"rate_limit": {"rate": 5, "burst": 5}})
    async with make_emu_client(max_attempts=10, backoff_cap_s=0.5) as client:
        await asyncio.gather(*(client.list("pool") for _ in range(10)))
    assert any(status == 429 for _, _, status in calls.calls)
    assert (
        sum(1 for _, obj_type, status in calls.calls if obj_type == "pool" and status == 200) == 10
    )


async def test_a_pacer_below_the_controllers_limit_never_sees_429(
    emu: EmulatorServer, make_emu_client: Callable[..., AviClient], calls: CallLog
) -> None:
    await _side_door(emu, "POST", "faults", {"rate_limit": {"rate": 5, "burst": 5}})
    async with make_emu_client(pacer=Pacer(rate=4, burst=4, workers=4)) as client:
        await asyncio.gather(*(client.list("pool") for _ in range(8)))
    assert [c for c in calls.calls if c[0] == "GET"] == [("GET", "pool", 200)] * 8
    assert all(status == 200 for _, _, status in calls.calls)  # login and logout too


async def test_dropped_connections_reads_retried_creates_resolved_by_name(
    emu: EmulatorServer, make_emu_client: Callable[..., AviClient]
) -> None:
    await _side_door(emu, "POST", "faults", {"reset_probability": 0.5, "seed": 7})
    names = [f"pool-{i}" for i in range(6)]
    unknown = 0
    async with make_emu_client(max_attempts=15) as client:
        for name in names:
            # What the sync layer does with an unknown outcome: read back by name, then decide.
            while await client.get_by_name("pool", name) is None:
                try:
                    await client.post("pool", {"name": name})
                except AviOutcomeUnknown as error:
                    assert (error.obj_type, error.name) == ("pool", name)
                    unknown += 1
    assert unknown > 0
    await _side_door(emu, "POST", "faults", {})
    stored = await _side_door(emu, "GET", "objects?type=pool")
    assert sorted(o["name"] for o in stored["results"]) == names
