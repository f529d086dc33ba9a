"""One token bucket and one worker bound pace every call, follow a config reload, and slow down on 429."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from akod.avi import CALL_PRIORITY, AviClient, Pacer

from .fake_controller import FakeController, Reply


async def _until(condition: Callable[[], bool], *, timeout_s: float = 2.0) -> None:
    """Poll the event loop until `condition` holds, or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.001)


async def test_45_calls_at_rate_20_burst_5_take_about_two_seconds(
    fake: FakeController, make_client: Callable[..., AviClient]
) -> None:
    async with make_client(pacer=Pacer(rate=20, burst=5, workers=8)) as client:
        started = time.monotonic()
        await client.login()  # paced too: 46 tokens, 5 at once, 41 at 20/s = 2.05 s
        await asyncio.gather(*(client.list("pool") for _ in range(45)))
        elapsed = time.monotonic() - started
    assert 1.95 <= elapsed <= 2.6
    assert len(fake.seen("GET", "/api/pool")) == 45


async def test_never_more_calls_in_flight_than_workers(
    make_client: Callable[..., AviClient],
) -> None:
    async with FakeController(handler_delay_s=0.01) as slow:
        pacer = Pacer(rate=0, burst=1, workers=2)
        async with make_client(base_url=slow.url, pacer=pacer) as client:
            await asyncio.gather(*(client.list("pool") for _ in range(20)))
        assert slow.max_in_flight == 2
        assert pacer.in_flight == 0 and pacer.waiting == 0


async def test_a_burst_goes_at_once_then_calls_wait_for_tokens() -> None:
    pacer = Pacer(rate=10, burst=3, workers=4)
    started = time.monotonic()
    for _ in range(3):
        async with pacer.slot():
            pass
    burst_s = time.monotonic() - started
    async with pacer.slot():
        pass
    assert burst_s < 0.05
    assert 0.09 <= time.monotonic() - started <= 0.3


async def test_unpaced_when_rate_is_zero() -> None:
    pacer = Pacer(rate=0, burst=1, workers=100)
    started = time.monotonic()
    for _ in range(1000):
        async with pacer.slot():
            pass
    assert time.monotonic() - started < 0.5


async def test_waiters_are_counted_and_served_in_order() -> None:
    pacer = Pacer(rate=0, burst=1, workers=1)
    order: list[int] = []
    release = asyncio.Event()

    async def call(i: int) -> None:
        async with pacer.slot():
            order.append(i)
            await release.wait()

    tasks = [asyncio.create_task(call(i)) for i in range(4)]
    await _until(lambda: pacer.in_flight == 1 and pacer.waiting == 3)
    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3]
    assert (pacer.in_flight, pacer.waiting) == (0, 0)


async def test_a_key_that_started_earlier_goes_first_with_its_later_calls() -> None:
    """Key A's second call (its virtual service after its pools) goes before key B's calls, which
    asked earlier but belong to a key that started later; calls outside a key count from asking."""
    pacer = Pacer(rate=0, burst=1, workers=1)
    order: list[str] = []
    release = asyncio.Event()

    async def call(name: str, priority: float | None) -> None:
        if priority is not None:
            CALL_PRIORITY.set(priority)
        async with pacer.slot():
            order.append(name)
            await release.wait()

    now = time.monotonic()
    tasks = [asyncio.create_task(call("A1", now - 10))]
    await _until(lambda: pacer.in_flight == 1)
    for name, priority in (("B1", now - 5), ("B2", now - 5), ("heartbeat", None), ("A2", now - 10)):
        tasks.append(asyncio.create_task(call(name, priority)))
        await _until(lambda: pacer.waiting == len(tasks) - 1)
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["A1", "A2", "B1", "B2", "heartbeat"]


async def test_reconfigure_admits_more_workers_at_once() -> None:
    pacer = Pacer(rate=0, burst=1, workers=1)
    release = asyncio.Event()

    async def call() -> None:
        async with pacer.slot():
            await release.wait()

    tasks = [asyncio.create_task(call()) for _ in range(3)]
    await _until(lambda: pacer.in_flight == 1 and pacer.waiting == 2)
    pacer.reconfigure(rate=0, burst=1, workers=3)
    await _until(lambda: pacer.in_flight == 3 and pacer.waiting == 0)
    release.set()
    await asyncio.gather(*tasks)


async def test_reconfigure_to_a_faster_rate_wakes_the_waiter() -> None:
    pacer = Pacer(rate=0.01, burst=1, workers=2)  # one token per 100 s
    async with pacer.slot():
        pass

    async def call() -> None:
        async with pacer.slot():
            pass

    waiter = asyncio.create_task(call())
    await _until(lambda: pacer.waiting == 1)
    started = time.monotonic()
    pacer.reconfigure(rate=100, burst=1, workers=2)
    await asyncio.wait_for(waiter, timeout=1.0)
    assert time.monotonic() - started < 0.5


async def test_a_cancelled_waiter_does_not_leak_its_slot() -> None:
    pacer = Pacer(rate=0, burst=1, workers=1)
    release = asyncio.Event()

    async def hold() -> None:
        async with pacer.slot():
            await release.wait()

    holder = asyncio.create_task(hold())
    await _until(lambda: pacer.in_flight == 1)
    waiter = asyncio.create_task(hold())
    await _until(lambda: pacer.waiting == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    await holder
    assert (pacer.in_flight, pacer.waiting) == (0, 0)
    async with asyncio.timeout(1.0):
        async with pacer.slot():
            assert pacer.in_flight == 1


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Pacer(rate=1, burst=1, workers=0)


def _no_jitter(low: float, high: float) -> float:
    return low


async def test_after_a_429_the_saved_burst_is_gone_and_calls_wait_for_half_the_rate() -> None:
    pacer = Pacer(rate=100, burst=50, workers=8, rng=_no_jitter)
    async with pacer.slot() as sent_at:
        pass
    pacer.note_429(sent_at=sent_at)
    assert pacer.throttled and pacer.effective_rate == 50
    started = time.monotonic()
    for _ in range(10):  # without the 429, 10 of the 49 saved tokens: at once
        async with pacer.slot():
            pass
    assert 0.18 <= time.monotonic() - started <= 0.6
    assert (pacer.throttled_429s, pacer.rate_decreases) == (1, 1)


async def test_a_call_waiting_for_a_token_waits_for_the_lower_rate_after_a_429() -> None:
    pacer = Pacer(rate=20, burst=1, workers=4, rng=_no_jitter)
    async with pacer.slot() as sent_at:
        pass

    async def call() -> float:
        async with pacer.slot():
            return time.monotonic()

    started = time.monotonic()
    waiter = asyncio.create_task(call())
    await _until(lambda: pacer.waiting == 1)
    pacer.note_429(sent_at=sent_at)  # now 10/s, and the token the waiter waited for is gone
    got_at = await asyncio.wait_for(waiter, timeout=2.0)
    assert got_at - started >= 0.09


async def test_an_unlimited_pacer_is_paced_after_a_429_at_half_what_it_sent() -> None:
    pacer = Pacer(rate=0, burst=40, workers=8, rng=_no_jitter)
    for _ in range(16):
        async with pacer.slot() as sent_at:
            pass
    pacer.note_429(sent_at=sent_at)
    assert pacer.rate == 0 and pacer.effective_rate == 8  # 16 sent in the last second, halved
    started = time.monotonic()
    for _ in range(4):
        async with pacer.slot():
            pass
    assert time.monotonic() - started >= 0.45


async def test_reconfigure_while_throttled_keeps_the_throttle_under_the_new_rate() -> None:
    pacer = Pacer(rate=40, burst=10, workers=2, rng=_no_jitter)
    pacer.note_429()
    pacer.reconfigure(rate=100, burst=10, workers=2)
    assert pacer.effective_rate == 20 and pacer.rate == 100
    pacer.reconfigure(rate=5, burst=10, workers=2)
    assert pacer.effective_rate == 5 and not pacer.throttled


async def test_a_429_from_the_controller_slows_the_clients_pacer(
    fake: FakeController, make_client: Callable[..., AviClient]
) -> None:
    pacer = Pacer(rate=50, burst=10, workers=4)
    async with make_client(pacer=pacer) as client:
        await client.login()
        fake.fail("GET", "/api/pool", Reply(429, {"error": "slow down"}, {"Retry-After": "0"}))
        await client.list("pool")
    assert pacer.throttled_429s == 1 and pacer.effective_rate == 25
