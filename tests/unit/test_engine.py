"""The sync engine: retries after a delay or a capped backoff, coalescing, one key on one worker, drain, cancel.

The engine runs for real (`Engine.run()` as a task over a real `KeyQueue`) with a handler written
here that plays a family: it returns the outcomes a family returns, raises, or waits on a gate
the test opens, and notes every run so the tests can say when and how often a key ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from akod.sync.engine import Engine
from akod.sync.family import DONE, Outcome, hold, requeue
from akod.sync.keyqueue import KeyQueue
from akod.sync.metrics import Telemetry
from tests.unit.polling import eventually

Step = Outcome | Exception


@dataclass
class Family:
    """A handler: per key, the outcomes of its next runs (DONE once they are used up)."""

    script: dict[str, list[Step]] = field(default_factory=dict)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    starts: list[tuple[str, float]] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    running: Counter[str] = field(default_factory=Counter)
    most_at_once: Counter[str] = field(default_factory=Counter)  # per key
    most_keys_at_once: int = 0

    async def __call__(self, key: str) -> Outcome:
        self.starts.append((key, time.monotonic()))
        self.running[key] += 1
        self.most_at_once[key] = max(self.most_at_once[key], self.running[key])
        self.most_keys_at_once = max(self.most_keys_at_once, sum(self.running.values()))
        try:
            gate = self.gates.get(key)
            if gate is not None:
                await gate.wait()
            steps = self.script.get(key) or []
            step = steps.pop(0) if steps else DONE
            if isinstance(step, Exception):
                raise step
            return step
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise
        finally:
            self.running[key] -= 1
            self.finished.append(key)

    def runs(self, key: str) -> int:
        return sum(1 for k, _ in self.starts if k == key)

    def gaps(self, key: str) -> list[float]:
        times = [t for k, t in self.starts if k == key]
        return [b - a for a, b in zip(times, times[1:])]


def engine_for(family: Family, *, workers: int = 4, retry_cap_s: float = 15.0, min_interval_s: float = 0.0) -> Engine:
    return Engine(queue=KeyQueue(min_interval_s=min_interval_s), telemetry=Telemetry(), workers=workers,
                  handler=family, retry_cap_s=retry_cap_s)


@contextlib.asynccontextmanager
async def running(engine: Engine) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(engine.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def idle(engine: Engine, *, within_s: float = 5.0) -> None:
    await asyncio.wait_for(engine.queue.wait_idle(), timeout=within_s)


async def test_a_key_requeued_with_a_delay_runs_again_once_the_delay_has_passed() -> None:
    family = Family(script={"l4:a": [requeue(reason="controller busy", after_s=0.3)]})
    engine = engine_for(family)
    async with running(engine):
        await engine.mark("l4:a")
        await eventually(lambda: "l4:a" in engine.failures, what="the first run fails")
        assert engine.failures["l4:a"].count == 1 and engine.failures["l4:a"].error == "controller busy"
        assert not engine.in_sync()

        await eventually(lambda: family.runs("l4:a") == 2 and not engine.failures, what="the retry succeeds")

    (gap,) = family.gaps("l4:a")
    assert 0.3 <= gap < 1.3
    assert engine.in_sync() and engine.synced_keys == 1


async def test_a_key_requeued_without_a_delay_backs_off_no_longer_than_the_cap() -> None:
    family = Family(script={"l4:a": [requeue(reason="503") for _ in range(4)]})
    engine = engine_for(family, retry_cap_s=0.2)
    async with running(engine):
        await engine.mark("l4:a")
        await eventually(lambda: engine.failures.get("l4:a") is not None and engine.failures["l4:a"].count == 4,
                         what="four failures")
        since = engine.failures["l4:a"].since
        await eventually(lambda: family.runs("l4:a") == 5 and not engine.failures, what="the fifth run succeeds")

    # Uncapped, the waits would be 0.25-0.5, 0.5-1, 1-2 and 2-4 s; capped they are 0.1-0.2 s (jitter 0.5-1).
    assert all(0.1 <= gap < 0.45 for gap in family.gaps("l4:a")), family.gaps("l4:a")
    assert since  # when the key started failing, kept across its failures


async def test_an_event_during_the_backoff_runs_the_key_at_once() -> None:
    family = Family(script={"l4:a": [requeue(reason="503", after_s=30)]})
    engine = engine_for(family)
    async with running(engine):
        await engine.mark("l4:a")
        await eventually(lambda: "l4:a" in engine.failures, what="the first run fails")

        await engine.mark("l4:a")  # e.g. the user fixed the Service

        await eventually(lambda: family.runs("l4:a") == 2, within_s=2, what="the key runs before its 30 s retry")
        await eventually(lambda: not engine.failures, what="the failure is cleared")


async def test_a_key_marked_many_times_while_waiting_runs_once() -> None:
    family = Family(gates={"l4:blocker": asyncio.Event()})
    engine = engine_for(family, workers=1)
    async with running(engine):
        await engine.mark("l4:blocker")
        await eventually(lambda: family.runs("l4:blocker") == 1, what="the only worker is busy")
        for _ in range(10):
            await engine.mark("l4:a")
        assert engine.queue.waiting_keys() == ["l4:a"]

        family.gates["l4:blocker"].set()
        await idle(engine)

    assert family.runs("l4:a") == 1


async def test_a_key_marked_many_times_while_running_runs_once_more_and_never_on_two_workers() -> None:
    family = Family(gates={"l4:a": asyncio.Event()})
    engine = engine_for(family, workers=4)
    async with running(engine):
        await engine.mark("l4:a")
        await eventually(lambda: family.runs("l4:a") == 1, what="the key is running")
        for _ in range(10):
            await engine.mark("l4:a")
        await engine.mark("l4:b")  # a free worker takes this one, passing over the busy key
        await eventually(lambda: "l4:b" in family.finished, what="another key runs meanwhile")
        assert family.runs("l4:a") == 1

        family.gates["l4:a"].set()
        await idle(engine)

    assert family.runs("l4:a") == 2
    assert family.most_at_once["l4:a"] == 1
    assert family.most_keys_at_once == 2  # the workers do run in parallel


async def test_a_handler_that_raises_is_retried_and_the_other_keys_go_on() -> None:
    family = Family(script={"l4:bad": [RuntimeError("boom"), RuntimeError("boom")]})
    engine = engine_for(family, retry_cap_s=0.05)
    async with running(engine):
        await engine.mark("l4:bad")
        await eventually(lambda: "l4:bad" in engine.failures, what="the first run raises")
        assert engine.failures["l4:bad"].error == "RuntimeError: boom"
        for key in ("l4:x", "l4:y"):
            await engine.mark(key)

        await eventually(lambda: family.runs("l4:bad") == 3 and not engine.failures, what="the third run succeeds")
        await idle(engine)

    assert {"l4:x", "l4:y"} <= set(family.finished)
    assert engine.in_sync() and engine.synced_keys == 3


async def test_a_held_key_is_shown_as_held_not_failed_until_a_run_succeeds() -> None:
    family = Family(script={"l4:a": [requeue(reason="503", after_s=0), hold("port 0 is not a valid port")]})
    engine = engine_for(family)
    async with running(engine):
        await engine.mark("l4:a")
        await eventually(lambda: "l4:a" in engine.held, what="the second run holds the key")
        assert engine.held == {"l4:a": "port 0 is not a valid port"}
        assert engine.failures == {}
        await idle(engine)
        assert family.runs("l4:a") == 2  # a held key is not retried by itself

        await engine.mark("l4:a")  # the Service was fixed
        await eventually(lambda: not engine.held, what="the key is no longer held")

    assert family.runs("l4:a") == 3


async def test_a_held_key_that_then_fails_is_shown_as_failing_only() -> None:
    family = Family(script={"l4:a": [hold("bad port"), requeue(reason="503", after_s=30)]})
    engine = engine_for(family)
    async with running(engine):
        await engine.mark("l4:a")
        await eventually(lambda: "l4:a" in engine.held, what="the key is held")
        await engine.mark("l4:a")
        await eventually(lambda: "l4:a" in engine.failures, what="the key fails")

        assert engine.held == {}


async def test_drain_lets_the_running_handler_finish_starts_nothing_new_and_ends_run() -> None:
    family = Family(gates={"l4:a": asyncio.Event()})
    engine = engine_for(family, workers=2)
    async with running(engine) as run:
        await engine.mark("l4:a")
        await eventually(lambda: family.runs("l4:a") == 1, what="the key is running")

        drain = asyncio.create_task(engine.drain(grace_s=5))
        await engine.mark("l4:late")
        await eventually(lambda: engine.queue.waiting_keys() == ["l4:late"], what="the late key is queued")
        assert not drain.done() and not run.done()

        family.gates["l4:a"].set()
        assert await asyncio.wait_for(drain, timeout=5) is True
        await asyncio.wait_for(run, timeout=5)

    assert family.finished == ["l4:a"] and family.cancelled == []
    assert family.runs("l4:late") == 0


async def test_drain_whose_grace_runs_out_says_so_and_cancel_still_stops_the_handler() -> None:
    family = Family(gates={"l4:a": asyncio.Event()})
    engine = engine_for(family)
    async with running(engine) as run:
        await engine.mark("l4:a")
        await eventually(lambda: family.runs("l4:a") == 1, what="the key is running")

        assert await engine.drain(grace_s=0.1) is False

        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    assert family.cancelled == ["l4:a"]


async def test_cancelling_run_stops_every_worker_even_mid_handler() -> None:
    family = Family(gates={"l4:a": asyncio.Event()})
    engine = engine_for(family, workers=3)
    async with running(engine) as run:
        await engine.mark("l4:a")
        await eventually(lambda: family.runs("l4:a") == 1, what="the key is running")

        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(run, timeout=5)

    assert family.cancelled == ["l4:a"]
    assert engine.in_flight == 0 and not engine.owes_work()


async def test_a_handler_whose_clean_up_raises_on_cancel_does_not_keep_run_alive() -> None:
    gate = asyncio.Event()

    async def handler(key: str) -> Outcome:
        try:
            await gate.wait()
        finally:
            raise RuntimeError("could not record the outcome")  # e.g. a journal write failing on the way out
        return DONE

    engine = Engine(queue=KeyQueue(min_interval_s=0), telemetry=Telemetry(), workers=2, handler=handler)
    async with running(engine) as run:
        await engine.mark("l4:a")
        await eventually(lambda: engine.in_flight == 1, what="the key is running")

        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(run, timeout=5)

    assert engine.failures == {}  # a cancel, not a failure of the key
