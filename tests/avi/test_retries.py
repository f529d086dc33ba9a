"""Backoff on 5xx, 429 and broken connections; what a write does when its outcome is unknown."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import aiohttp
import pytest

from akod.avi import AviClient, AviError, AviOutcomeUnknown, AviUnavailable, Pacer

from .conftest import FAST_BACKOFF, CallLog
from .fake_controller import HANG, RESET, FakeController, Reply


async def test_503_then_success_is_absorbed(fake: FakeController, client: AviClient) -> None:
    fake.fail("POST", "/api/pool", 503, 502)
    created = await client.post("pool", {"name": "p1"})
    assert created["name"] == "p1"
    assert len(fake.seen("POST", "/api/pool")) == 3
    assert client.connected
    assert client.last_error is not None and "502" in client.last_error


async def test_429_waits_at_least_retry_after(fake: FakeController, client: AviClient) -> None:
    await client.login()
    fake.fail("GET", "/api/pool", Reply(429, {"error": "slow down"}, {"Retry-After": "0.3"}))
    started = time.monotonic()
    await client.list("pool")
    assert time.monotonic() - started >= 0.3
    assert len(fake.seen("GET", "/api/pool")) == 2


async def test_exhausted_retries_raise_unavailable_with_the_last_cause(
    fake: FakeController, make_client: Callable[..., AviClient], calls: CallLog
) -> None:
    fake.fail("GET", "/api/pool", 503, 503, Reply(504, "gateway timed out"))
    async with make_client(max_attempts=3) as client:
        with pytest.raises(AviUnavailable) as caught:
            await client.list("pool")
        assert not client.connected
    error = caught.value
    assert error.status == 504
    assert error.message == "gateway timed out"
    assert isinstance(error.cause, AviError) and error.cause.status == 504
    assert [c for c in calls.calls if c[1] == "pool"] == [
        ("GET", "pool", s) for s in (503, 503, 504)
    ]


async def test_the_deadline_bounds_a_call_whatever_max_attempts_says(
    fake: FakeController, make_client: Callable[..., AviClient]
) -> None:
    fake.fail("GET", "/api/pool", *[Reply(503, {}, {"Retry-After": "0.2"})] * 20)
    async with make_client(max_attempts=20, deadline_s=0.5) as client:
        started = time.monotonic()
        with pytest.raises(AviUnavailable):
            await client.list("pool")
    assert time.monotonic() - started < 0.5
    assert 2 <= len(fake.seen("GET", "/api/pool")) <= 3


async def test_a_read_on_a_reset_connection_is_retried(
    fake: FakeController, client: AviClient, calls: CallLog
) -> None:
    await client.login()
    # aiohttp itself re-sends an idempotent request once on a dropped connection (RFC 9112
    # 9.3.1), so it takes two resets for the client to see one.
    fake.fail("GET", "/api/pool", RESET, RESET)
    assert await client.list("pool") == []
    assert [c for c in calls.calls if c[1] == "pool"] == [
        ("GET", "pool", None),
        ("GET", "pool", 200),
    ]


async def test_a_create_on_a_reset_connection_is_not_repeated(
    fake: FakeController, client: AviClient
) -> None:
    await client.login()
    fake.fail("POST", "/api/pool", RESET)
    with pytest.raises(AviOutcomeUnknown) as caught:
        await client.post("pool", {"name": "web-pool"}, tenant="team-a")
    error = caught.value
    assert (error.obj_type, error.name, error.tenant) == ("pool", "web-pool", "team-a")
    assert isinstance(error.cause, aiohttp.ClientConnectionError)
    assert len(fake.seen("POST", "/api/pool")) == 1
    assert not client.connected


async def test_a_create_that_times_out_is_not_repeated(
    fake: FakeController, make_client: Callable[..., AviClient]
) -> None:
    fake.fail("POST", "/api/pool", HANG)
    async with make_client(timeout_s=0.2) as client:
        await client.login()
        with pytest.raises(AviOutcomeUnknown):
            await client.post("pool", {"name": "p1"})
    assert len(fake.seen("POST", "/api/pool")) == 1


async def test_a_read_that_times_out_is_retried(
    fake: FakeController, make_client: Callable[..., AviClient]
) -> None:
    fake.fail("GET", "/api/pool", HANG)
    async with make_client(timeout_s=0.2) as client:
        assert await client.list("pool") == []
    assert len(fake.seen("GET", "/api/pool")) == 2


async def test_update_and_delete_on_a_reset_connection_are_retried(
    fake: FakeController, client: AviClient, calls: CallLog
) -> None:
    pool = fake.add("pool", {"name": "p1"})
    path = f"/api/pool/{pool['uuid']}"
    fake.fail("PUT", path, RESET, RESET)  # two: see test_a_read_on_a_reset_connection_is_retried
    fake.fail("PATCH", path, RESET)  # aiohttp does not re-send a PATCH by itself
    fake.fail("DELETE", path, RESET, RESET)
    await client.put("pool", pool["uuid"], {"name": "p1", "lb_algorithm": "X"})
    await client.patch("pool", pool["uuid"], {"replace": {"lb_algorithm": "Y"}})
    assert fake.objects["pool"][pool["uuid"]]["lb_algorithm"] == "Y"
    await client.delete("pool", pool["uuid"])
    assert fake.objects["pool"] == {}
    for method in ("PUT", "PATCH", "DELETE"):
        assert [c[2] for c in calls.calls if c[0] == method] == [
            None,
            200 if method != "DELETE" else 204,
        ]


async def test_a_delete_whose_first_try_landed_succeeds_on_the_404(
    fake: FakeController, client: AviClient
) -> None:
    pool = fake.add("pool", {"name": "p1"})
    path = f"/api/pool/{pool['uuid']}"
    # The controller deleted it but the reply was lost (a 502 from a proxy, say).
    fake.objects["pool"].clear()
    fake.fail("DELETE", path, 502)
    await client.delete("pool", pool["uuid"])
    assert [r.method for r in fake.seen("DELETE", path)] == ["DELETE", "DELETE"]


async def test_a_refused_connection_is_retried_even_for_a_create_then_unavailable(
    calls: CallLog,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pacer = Pacer(rate=0, burst=1, workers=2)
    async with AviClient(
        base_url=f"http://127.0.0.1:{port}",
        username="admin",
        password="x",
        pacer=pacer,
        observer=calls,
        max_attempts=3,
        **FAST_BACKOFF,
    ) as client:
        with pytest.raises(AviUnavailable) as caught:
            await client.post("pool", {"name": "p1"})
    assert not isinstance(caught.value, AviOutcomeUnknown)
    assert isinstance(caught.value.cause, aiohttp.ClientConnectorError)
    assert calls.calls == [("POST", "login", None)] * 3
    assert not client.connected


async def test_login_itself_is_retried_on_503(fake: FakeController, client: AviClient) -> None:
    fake.fail("POST", "/login", 503, RESET)
    await client.list("pool")
    assert len(fake.seen("POST", "/login")) == 3
    assert fake.logins == 1


async def test_calls_queued_behind_a_failed_login_share_its_failure(calls: CallLog) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with AviClient(
        base_url=f"http://127.0.0.1:{port}",
        username="admin",
        password="x",
        pacer=Pacer(rate=0, burst=1, workers=8),
        observer=calls,
        max_attempts=3,
        **FAST_BACKOFF,
    ) as client:
        outcomes = await asyncio.gather(
            *(client.list("pool") for _ in range(5)), return_exceptions=True
        )
    assert all(isinstance(o, AviUnavailable) for o in outcomes)
    assert len(calls.calls) == 3  # one login's attempts, not five logins'


async def test_login_is_tried_again_by_the_next_call_after_a_failure(
    fake: FakeController, make_client: Callable[..., AviClient]
) -> None:
    fake.fail("POST", "/login", 503, 503)
    async with make_client(max_attempts=2) as client:
        with pytest.raises(AviUnavailable):
            await client.list("pool")
        assert await client.list("pool") == []
    assert fake.logins == 1
