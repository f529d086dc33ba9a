"""The store's one writer: group commit, a failing write costing only itself, and what happens when
the writer is not running (died, cancelled, never started, closed), against real SQLite files."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from akod.store import DONE, INTENT, Applied, Desired, Observed, Store, StoreReadOnly, StoreWriterDead
from akod.store.writer import InjectedWriterCrash

DEADLINE_S = 5.0  # "promptly": far more than any of these needs, far less than forever


def _desired(name: str, owner: str, cks: str = "c1") -> Desired:
    return Desired(obj_type="pool", tenant="admin", name=name, owner_key=owner, body={"name": name}, checksum=cks)


def _applied(name: str, owner: str, cks: str = "c1") -> Applied:
    return Applied(obj_type="pool", tenant="admin", name=name, uuid=f"pool-{name}", checksum=cks, last_modified="1",
                   owner_key=owner)


def _rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return sorted(db.execute(query).fetchall())


async def _begin(store: Store, key: str, name: str) -> list[int]:
    return await store.begin_key(owner_key=key, objects=[_desired(name, key)],
                                 ops=[("POST", "pool", "admin", name, "c1")])


async def _until(predicate: Any, what: str) -> None:
    """Poll `predicate()` until it holds, or fail after the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"still not {what} after {DEADLINE_S} s")
        await asyncio.sleep(0.01)


async def test_writes_of_many_callers_share_one_transaction(tmp_path: Path) -> None:
    store = await Store.open(path=tmp_path / "state.db")
    try:
        await store.begin_key(owner_key="warm", objects=[], ops=[])  # the writer is up and idle
        assert store._writer is not None
        before = store._writer.batches
        results = await asyncio.gather(*(_begin(store, f"l4:k{i}", f"p{i}") for i in range(20)))
        assert store._writer.batches == before + 1
        assert sorted(i for ids in results for i in ids) == list(range(1, 21))
    finally:
        await store.close()


async def test_a_failing_write_in_a_group_commit_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await Store.open(path=path)
    try:
        await store.begin_key(owner_key="k1", objects=[_desired("a", "k1")], ops=[])
        # in one batch: a watch batch, a key that claims k1's object (the primary key refuses it),
        # a good key, and the outcome of another: only the clash fails, and it leaves nothing behind
        (entry,) = await _begin(store, "k4", "d")
        results = await asyncio.gather(
            store.apply_watch_batch(resource="services", kind="Service", upserts=[
                Observed(kind="Service", namespace="ns", name="s", uid="u", resource_version="5", body={})],
                deletes=[], resource_version="5"),
            store.begin_key(owner_key="k2", objects=[_desired("a", "k2")], ops=[("POST", "pool", "admin", "a", "y")]),
            _begin(store, "k3", "b"),
            store.finish_key(outcomes=[(entry, DONE, "")], applied=[_applied("d", "k4")], forget=[]),
            return_exceptions=True)
        assert isinstance(results[1], IntegrityError)
        assert results[0] == [] and results[3] is None
        assert isinstance(results[2], list) and len(results[2]) == 1
        assert _rows(path, "SELECT key, name, state FROM journal") == [("k3", "b", INTENT), ("k4", "d", DONE)]
        assert _rows(path, "SELECT owner_key, name FROM avi_desired") == [("k1", "a"), ("k3", "b"), ("k4", "d")]
        assert _rows(path, "SELECT name, resource_version FROM k8s_objects") == [("s", "5")]
        assert await store.desired_checksums(owner_key="k2") == {}
        assert [a.name for a in await store.applied_for_key(owner_key="k4", idents=[])] == ["d"]
        # the journal ids of the failed write were not used, and not skipped either
        assert await store.journal_intent(key="k5", op="POST", obj_type="pool", tenant="admin", name="e",
                                          checksum="c") == results[2][0] + 1
    finally:
        await store.close()


async def test_a_dead_writer_fails_waiting_and_later_writes_promptly(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await Store.open(path=path, writer_crash_after=1)
    try:
        assert await _begin(store, "k1", "a") == [1]  # the first batch commits, then the writer dies
        waiting = [asyncio.ensure_future(_begin(store, f"k{i}", f"p{i}")) for i in range(2, 5)]
        done, pending = await asyncio.wait(waiting, timeout=DEADLINE_S)
        assert not pending
        for task in done:
            with pytest.raises(StoreWriterDead):
                task.result()
        assert not store.writer_alive
        assert store.writer_stalled_for() == math.inf
        with pytest.raises(StoreWriterDead) as later:
            await asyncio.wait_for(_begin(store, "k9", "z"), DEADLINE_S)
        assert isinstance(later.value.__cause__, InjectedWriterCrash)
        with pytest.raises(StoreWriterDead):
            await asyncio.wait_for(store.desired_checksums(owner_key="k1"), DEADLINE_S)
        assert _rows(path, "SELECT key FROM journal") == [("k1",)]
    finally:
        await store.close()


async def test_run_writer_raises_when_the_writer_dies(tmp_path: Path) -> None:
    store = await Store.open(path=tmp_path / "state.db", supervised=True, writer_crash_after=2)
    try:
        writer = asyncio.ensure_future(store.run_writer())
        await _begin(store, "k1", "a")
        await _begin(store, "k2", "b")
        with pytest.raises(StoreWriterDead) as died:
            await asyncio.wait_for(writer, DEADLINE_S)
        assert isinstance(died.value.__cause__, InjectedWriterCrash)
        assert not store.writer_alive
    finally:
        await store.close()


async def test_a_supervised_store_waits_for_run_writer_and_the_wait_shows_as_a_stall(tmp_path: Path) -> None:
    store = await Store.open(path=tmp_path / "state.db", supervised=True)
    try:
        assert store.writer_stalled_for() == 0.0 and not store.writer_alive
        write = asyncio.ensure_future(_begin(store, "k1", "a"))
        await _until(lambda: store.writer_stalled_for() > 0.05, "stalled")
        assert not write.done()  # nothing started the writer behind the supervisor's back
        writer = asyncio.ensure_future(store.run_writer())
        assert await asyncio.wait_for(write, DEADLINE_S) == [1]
        assert store.writer_alive and store.writer_stalled_for() == 0.0
        with pytest.raises(RuntimeError):
            await store.run_writer()  # one writer per store
        writer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writer
        assert not store.writer_alive
        with pytest.raises(StoreWriterDead):
            await asyncio.wait_for(_begin(store, "k2", "b"), DEADLINE_S)
    finally:
        await store.close()


async def test_a_cancelled_writer_finishes_the_write_in_flight_and_fails_those_queued(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await Store.open(path=path, supervised=True)
    try:
        writer = asyncio.ensure_future(store.run_writer())
        await _begin(store, "warm", "w")
        big = [_desired(f"p{i}", "k1") for i in range(20000)]  # long enough to be caught in flight
        in_flight = asyncio.ensure_future(store.begin_key(owner_key="k1", objects=big, ops=[]))
        assert store._writer is not None
        while not store._writer._in_flight:
            await asyncio.sleep(0)
        queued = asyncio.ensure_future(_begin(store, "k2", "b"))
        await asyncio.sleep(0)
        writer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writer
        assert await asyncio.wait_for(in_flight, DEADLINE_S) == []  # committed, and its caller knows it
        with pytest.raises(StoreWriterDead, match="not made"):
            await asyncio.wait_for(queued, DEADLINE_S)
        assert _rows(path, "SELECT count(*) FROM avi_desired WHERE owner_key = 'k1'") == [(20000,)]
        assert _rows(path, "SELECT key FROM journal") == [("warm",)]
    finally:
        await store.close()


async def test_closing_a_supervised_store_whose_writer_never_ran_fails_its_writes(tmp_path: Path) -> None:
    store = await Store.open(path=tmp_path / "state.db", supervised=True)
    waiting = asyncio.ensure_future(_begin(store, "k1", "a"))
    await _until(lambda: store.writer_stalled_for() > 0, "queued")
    await store.close()
    with pytest.raises(StoreWriterDead):
        await asyncio.wait_for(waiting, DEADLINE_S)


async def test_close_writes_what_is_queued_then_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await Store.open(path=path)
    writes = [asyncio.ensure_future(_begin(store, f"k{i}", f"p{i}")) for i in range(5)]
    await asyncio.sleep(0)  # queued, not yet written
    await store.close()
    assert [w.result() for w in writes] == [[1], [2], [3], [4], [5]]
    assert len(_rows(path, "SELECT id FROM journal")) == 5
    with pytest.raises(StoreWriterDead):
        await _begin(store, "k9", "z")


async def test_a_read_only_store_refuses_writes_and_has_no_writer(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    await (await Store.open(path=path)).close()
    store = await Store.open(path=path, read_only=True)
    try:
        with pytest.raises(StoreReadOnly):
            await _begin(store, "k1", "a")
        with pytest.raises(StoreReadOnly):
            await store.run_writer()
        assert not store.writer_alive and store.writer_stalled_for() == 0.0
    finally:
        await store.close()


async def test_journal_attempts_and_outcomes_update_their_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await Store.open(path=path)
    try:
        entry = await store.journal_intent(key="gc", op="DELETE", obj_type="pool", tenant="admin", name="p",
                                           checksum="c")
        await store.record_applied(_applied("p", "gc"))
        await store.journal_attempt(entry_id=entry, error="503 " * 1000)
        await store.journal_attempt(entry_id=entry, error="timeout")
        (row,) = await store.journal()
        assert (row.state, row.attempts, row.last_error) == (INTENT, 3, "timeout")
        await store.journal_outcome(entry_id=entry, state=DONE, forget=("pool", "admin", "p"))
        (row,) = await store.journal()
        assert (row.state, row.attempts, row.last_error) == (DONE, 3, "")
        assert await store.applied(obj_type="pool", tenant="admin", name="p") is None
        assert await store.applied_for_key(owner_key="gc", idents=[("pool", "admin", "p")]) == []
    finally:
        await store.close()
