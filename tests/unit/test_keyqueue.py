"""The dirty-key queue coalesces and serialises keys (pure asyncio logic, no server)."""

from __future__ import annotations

import asyncio

from akod.sync.keyqueue import KeyQueue


async def test_marking_a_waiting_key_twice_queues_it_once() -> None:
    q = KeyQueue()
    await q.mark("a")
    await q.mark("b")
    await q.mark("a")
    assert q.waiting_keys() == ["a", "b"]


async def test_a_key_marked_while_active_runs_again_after_and_never_twice_at_once() -> None:
    q = KeyQueue()
    await q.mark("a")
    key = await q.take()
    await q.mark("a")
    assert q.waiting_keys() == []  # not handed to a second worker while active
    await q.done(key)
    assert q.waiting_keys() == ["a"]


async def test_wait_idle_returns_once_everything_is_done() -> None:
    q = KeyQueue()
    await q.mark("a")
    waiter = asyncio.create_task(q.wait_idle())
    key = await q.take()
    await asyncio.sleep(0)
    assert not waiter.done()
    await q.done(key)
    await asyncio.wait_for(waiter, 1)


async def test_a_key_is_not_restarted_within_the_minimum_interval() -> None:
    q = KeyQueue(min_interval_s=0.2)
    await q.mark("a")
    loop = asyncio.get_running_loop()
    first = loop.time()
    await q.done(await q.take())
    await q.mark("a")
    await q.mark("b")
    assert await q.take() == "b"  # "a" waits for its interval; "b" is not held up by it
    await q.done("b")
    await q.take()
    assert loop.time() - first >= 0.19


async def test_a_delayed_key_does_not_hold_up_keys_marked_after_it_and_an_earlier_mark_wins() -> None:
    q = KeyQueue()
    await q.mark("retry", delay_s=30)
    await q.mark("a")
    await q.mark("b")
    assert [await q.take(), await q.take()] == ["a", "b"]
    assert not q.any_due()
    await q.mark("retry")  # an event marks it sooner than its backoff: it runs now
    assert q.any_due()
    assert await asyncio.wait_for(q.take(), 1) == "retry"
    assert not q.any_due() and q.waiting_keys() == []


async def test_wait_idle_does_not_wait_for_a_delayed_retry() -> None:
    q = KeyQueue()
    await q.mark("failing", delay_s=30)
    await asyncio.wait_for(q.wait_idle(), 1)
    assert q.waiting_keys() == ["failing"]
