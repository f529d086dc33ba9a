"""The in-memory mirror of avi_applied and avi_desired answers exactly what the database holds, after
every kind of write that touches those tables, and reads on the read-only engine see what was committed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from akod.store import DONE, INTENT, UNKNOWN, Applied, Desired, Observed, Store


def _desired(name: str, owner: str, cks: str = "c1", role: str = "") -> Desired:
    return Desired(obj_type="pool", tenant="admin", name=name, owner_key=owner, body={"name": name}, checksum=cks,
                   role=role)


def _applied(name: str, owner: str, cks: str = "c1", role: str = "", obj_type: str = "pool") -> Applied:
    return Applied(obj_type=obj_type, tenant="admin", name=name, uuid=f"{obj_type}-{name}", checksum=cks,
                   last_modified="1", owner_key=owner, info={"vips": [name]}, role=role)


async def _assert_mirror_matches_the_database(store: Store) -> None:
    """Every key's applied rows and desired checksums, from the mirror and from a fresh read of the file."""
    fresh = await Store.open(path=store.path, read_only=True)
    try:
        applied = await fresh.all_applied()
        keys = {a.owner_key for a in applied} | {d.owner_key for d in await fresh.desired()}
        mirrored: list[Applied] = []
        for key in keys:
            mine = sorted(await store.applied_for_key(owner_key=key, idents=[]), key=repr)
            theirs = sorted(await fresh.applied_for_key(owner_key=key, idents=[]), key=repr)
            assert [(a, a.info) for a in mine] == [(a, a.info) for a in theirs]  # info is not compared by ==
            assert await store.desired_checksums(owner_key=key) == await fresh.desired_checksums(owner_key=key)
            mirrored += mine
        assert sorted(applied, key=repr) == sorted(mirrored, key=repr)  # and no row is missing from a key
        served = await store.all_applied()  # the daemon's answer comes from its mirror
        assert [(a, a.info) for a in served] == [(a, a.info) for a in applied]
        assert [a.name for a in await store.all_applied(obj_type="pool")] == [a.name for a in applied
                                                                             if a.obj_type == "pool"]
    finally:
        await fresh.close()


async def test_the_mirror_matches_the_database_after_every_kind_of_write(tmp_path: Path) -> None:
    store = await Store.open(path=tmp_path / "state.db")
    try:
        ids = await store.begin_key(owner_key="l4:a", objects=[_desired("a1", "l4:a"), _desired("a2", "l4:a")],
                                    ops=[("POST", "pool", "admin", "a1", "c1"), ("POST", "pool", "admin", "a2", "c1")])
        await store.finish_key(outcomes=[(i, DONE, "") for i in ids],
                               applied=[_applied("a1", "l4:a"), _applied("a2", "l4:a", role="backup")], forget=[])
        await _assert_mirror_matches_the_database(store)

        # a key's desired set shrinks; an object moves to another key; one is forgotten
        await store.begin_key(owner_key="l4:a", objects=[_desired("a1", "l4:a", "c2")], ops=[])
        await store.replace_desired(owner_key="l4:b", objects=[_desired("b1", "l4:b")])
        await store.finish_key(outcomes=[], applied=[_applied("a2", "l4:b", role="backup")],
                               forget=[("pool", "admin", "a1")])
        await _assert_mirror_matches_the_database(store)

        # a relist does not touch the mirrored tables
        await store.apply_watch_batch(resource="services", kind="Service", upserts=[
            Observed(kind="Service", namespace="ns", name="s", uid="u", resource_version="1", body={})],
            deletes=[], resource_version="1", relist=True)
        await _assert_mirror_matches_the_database(store)

        # journal outcomes that write and forget applied rows, and record_applied
        entry = await store.journal_intent(key="vrf", op="PUT", obj_type="vrfcontext", tenant="admin",
                                           name="global", checksum="v1")
        await store.journal_outcome(entry_id=entry, state=DONE, applied=_applied("global", "vrf", "v1",
                                                                                obj_type="vrfcontext"))
        await store.record_applied(_applied("c1", "l4:c"))
        entry = await store.journal_intent(key="gc", op="DELETE", obj_type="pool", tenant="admin", name="c1",
                                           checksum="c1")
        await store.journal_outcome(entry_id=entry, state=DONE, forget=("pool", "admin", "c1"))
        await _assert_mirror_matches_the_database(store)

        # a rebuild from the controller: rows still there keep their owner and role, new ones take theirs,
        # rows of other types stay
        await store.replace_applied(objects=[_applied("a2", "", "c9"), _applied("n1", "l4:n")], types=["pool"])
        await _assert_mirror_matches_the_database(store)
        a2 = await store.applied(obj_type="pool", tenant="admin", name="a2")
        assert a2 is not None and (a2.owner_key, a2.role, a2.checksum) == ("l4:b", "backup", "c9")
        assert await store.applied(obj_type="vrfcontext", tenant="admin", name="global") is not None
        assert [a.name for a in await store.applied_for_key(owner_key="l4:n", idents=[])] == ["n1"]
    finally:
        await store.close()


async def test_role_round_trips_through_every_path(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await Store.open(path=path)
    try:
        (entry,) = await store.begin_key(owner_key="l7:s", objects=[_desired("p", "l7:s", role="sni-child")],
                                         ops=[("POST", "pool", "admin", "p", "c1")])
        await store.finish_key(outcomes=[(entry, DONE, "")], applied=[_applied("p", "l7:s", role="sni-child")],
                               forget=[])
        assert [d.role for d in await store.desired(owner_key="l7:s")] == ["sni-child"]
        assert [a.role for a in await store.applied_for_key(owner_key="l7:s", idents=[])] == ["sni-child"]
        found = await store.applied(obj_type="pool", tenant="admin", name="p")
        assert found is not None and found.role == "sni-child"
        assert [a.role for a in await store.all_applied(obj_type="pool")] == ["sni-child"]
        await store.replace_desired(owner_key="l7:s", objects=[])
        assert [a.role for a in await store.unowned_applied(exclude_types=[])] == ["sni-child"]
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT role FROM avi_applied").fetchall() == [("sni-child",)]
    reopened = await Store.open(path=path)
    try:
        assert [a.role for a in await reopened.applied_for_key(owner_key="l7:s", idents=[])] == ["sni-child"]
    finally:
        await reopened.close()


async def test_reads_see_each_write_once_it_has_returned(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await Store.open(path=path)
    other = await Store.open(path=path, read_only=True)  # another process's view (akod state)
    try:
        ids = await store.begin_key(owner_key="l4:a", objects=[_desired("a1", "l4:a")],
                                    ops=[("POST", "pool", "admin", "a1", "c1")])
        for reader in (store, other):
            assert [(j.id, j.state) for j in await reader.journal()] == [(ids[0], INTENT)]
            assert await reader.journal_counts() == {INTENT: 1}
        await store.finish_key(outcomes=[(ids[0], DONE, "")], applied=[_applied("a1", "l4:a")], forget=[])
        await store.apply_watch_batch(resource="services", kind="Service", upserts=[
            Observed(kind="Service", namespace="ns", name="s", uid="u", resource_version="7", body={"a": 1})],
            deletes=[], resource_version="7")
        for reader in (store, other):
            assert await reader.journal_counts() == {DONE: 1}
            assert await reader.object_counts() == {"pool": 1}
            cursor = await reader.cursor(resource="services")
            assert cursor is not None and cursor.resource_version == "7"
            one = await reader.observed_one(kind="Service", namespace="ns", name="s")
            assert one is not None and one.body == {"a": 1}
    finally:
        await other.close()
        await store.close()


async def test_pruning_the_journal_keeps_every_row_whose_outcome_is_not_known(tmp_path: Path) -> None:
    store = await Store.open(path=tmp_path / "state.db")
    try:
        entries = [await store.journal_intent(key="k", op="PUT", obj_type="pool", tenant="admin", name=f"p{i}",
                                              checksum="c") for i in range(6)]
        for entry, state in zip(entries, [DONE, UNKNOWN, DONE, INTENT, DONE, DONE], strict=True):
            if state != INTENT:
                await store.journal_outcome(entry_id=entry, state=state)
        assert await store.prune_journal(keep_done=1) == 3  # the oldest three done rows; the newest stays
        assert sorted((j.name, j.state) for j in await store.journal()) == [
            ("p1", UNKNOWN), ("p3", INTENT), ("p5", DONE)]
    finally:
        await store.close()


@pytest.mark.parametrize("names", [None, [("ns", "a")]])
async def test_replacing_problems_keeps_the_since_of_those_that_persist(tmp_path: Path,
                                                                      names: list[tuple[str, str]] | None) -> None:
    from akod.model.problems import ObjectRef, Problem

    def problem(name: str, message: str) -> Problem:
        return Problem(obj=ObjectRef(kind="Service", namespace="ns", name=name), field="spec.ports",
                       reason="Invalid", message=message)

    store = await Store.open(path=tmp_path / "state.db")
    try:
        assert await store.replace_problems(kind="Service", problems=[problem("a", "x"), problem("b", "y")]) == [
            problem("a", "x"), problem("b", "y")]
        since = {p.name: p.since for p in await store.problems()}
        new = await store.replace_problems(kind="Service", problems=[problem("a", "x")], names=names)
        assert new == []
        left = {p.name: p.since for p in await store.problems()}
        assert left == ({"a": since["a"]} if names is None else since)  # out of scope: b stays
        assert await store.replace_problems(kind="Service", problems=[problem("a", "z")]) == [problem("a", "z")]
        assert [p.message for p in await store.problems() if p.name == "a"] == ["z"]
    finally:
        await store.close()
