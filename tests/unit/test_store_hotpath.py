"""The store's hot path (a key's begin and finish, watch batches, group commit, the mirror) against SQLite itself."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from akod.store import DONE, INTENT, Applied, Desired, Observed, Store


def _applied(name: str, owner: str, cks: str = "c1", uuid: str = "") -> Applied:
    return Applied(obj_type="pool", tenant="admin", name=name, uuid=uuid or f"pool-{name}", checksum=cks,
                   last_modified="1", owner_key=owner, info={"vips": ["10.0.0.1"]})


def _rows(path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return sorted(db.execute(query).fetchall())


def test_begin_and_finish_commit_what_they_say_and_the_mirror_follows(tmp_path: Path) -> None:
    path = tmp_path / "state.db"

    async def main() -> None:
        store = await Store.open(path=path)
        try:
            async def one(i: int) -> list[int]:
                key = f"l4:k{i}"
                objs = [Desired(obj_type="pool", tenant="admin", name=f"p{i}-{j}", owner_key=key, body={"j": j},
                                checksum=f"c{j}") for j in range(3)]
                ids = await store.begin_key(owner_key=key, objects=objs,
                                            ops=[("POST", "pool", "admin", o.name, o.checksum) for o in objs])
                # durable before the call to the controller: visible to another connection now
                assert len(_rows(path, f"SELECT id FROM journal WHERE key = '{key}' AND state = 'intent'")) == 3
                await store.finish_key(outcomes=[(e, DONE, "") for e in ids],
                                       applied=[_applied(o.name, key, o.checksum) for o in objs], forget=[])
                return ids

            all_ids = await asyncio.gather(*(one(i) for i in range(20)))
            flat = [i for ids in all_ids for i in ids]
            assert len(set(flat)) == 60
            assert _rows(path, "SELECT count(*), state FROM journal GROUP BY state") == [(60, DONE)]
            # each key got the ids of its own rows, in the order of its ops
            for i, ids in enumerate(all_ids):
                names = [r[0] for r in sorted(_rows(path, f"SELECT id, name FROM journal WHERE key = 'l4:k{i}'"))]
                assert ids == sorted(ids)
                assert _rows(path, f"SELECT name FROM journal WHERE id IN ({','.join(map(str, ids))})") == \
                    [(f"p{i}-{j}",) for j in range(3)]
                del names
            assert len(_rows(path, "SELECT * FROM avi_applied")) == 60
            assert len(_rows(path, "SELECT * FROM avi_desired")) == 60
            got = await store.applied_for_key(owner_key="l4:k3", idents=[("pool", "admin", "p4-0")])
            assert sorted(a.name for a in got) == ["p3-0", "p3-1", "p3-2", "p4-0"]
            assert await store.desired_checksums(owner_key="l4:k3") == {
                ("pool", "admin", f"p3-{j}"): f"c{j}" for j in range(3)}

            # forget and move an object to another owner; the mirror matches a fresh read
            await store.finish_key(outcomes=[], applied=[_applied("p3-0", "l4:k9", "c9")],
                                   forget=[("pool", "admin", "p3-1")])
            reopened = await Store.open(path=path)
            try:
                for key in ("l4:k3", "l4:k9"):
                    mine = sorted((a.name, a.checksum, a.owner_key, a.uuid) for a in
                                  await store.applied_for_key(owner_key=key, idents=[]))
                    fresh = sorted((a.name, a.checksum, a.owner_key, a.uuid) for a in
                                   await reopened.applied_for_key(owner_key=key, idents=[]))
                    assert mine == fresh
                assert ("p3-0", "c9", "l4:k9", "pool-p3-0") in fresh
                assert await reopened.desired_checksums(owner_key="l4:k3") == \
                    await store.desired_checksums(owner_key="l4:k3")
            finally:
                await reopened.close()

            # a new desired set replaces the old one; no ops: no journal rows
            assert await store.begin_key(owner_key="l4:k3", objects=[], ops=[]) == []
            assert await store.desired_checksums(owner_key="l4:k3") == {}
            assert _rows(path, "SELECT count(*) FROM avi_desired WHERE owner_key = 'l4:k3'") == [(0,)]
        finally:
            await store.close()

    asyncio.run(main())


def test_a_failing_write_fails_alone_and_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "state.db"

    async def main() -> None:
        store = await Store.open(path=path)
        try:
            good = Desired(obj_type="pool", tenant="admin", name="a", owner_key="k1", body={}, checksum="x")
            await store.begin_key(owner_key="k1", objects=[good], ops=[])
            # k2 claims the same object: the primary key refuses it; k3 in the same batch is unaffected
            clash = Desired(obj_type="pool", tenant="admin", name="a", owner_key="k2", body={}, checksum="y")
            fine = Desired(obj_type="pool", tenant="admin", name="b", owner_key="k3", body={}, checksum="z")
            results = await asyncio.gather(
                store.begin_key(owner_key="k2", objects=[clash], ops=[("POST", "pool", "admin", "a", "y")]),
                store.begin_key(owner_key="k3", objects=[fine], ops=[("POST", "pool", "admin", "b", "z")]),
                return_exceptions=True)
            assert isinstance(results[0], Exception)
            assert isinstance(results[1], list) and len(results[1]) == 1
            assert _rows(path, "SELECT key, name, state FROM journal") == [("k3", "b", INTENT)]
            assert await store.desired_checksums(owner_key="k2") == {}
            assert await store.desired_checksums(owner_key="k3") == {("pool", "admin", "b"): "z"}
        finally:
            await store.close()

    asyncio.run(main())


def test_watch_batches_and_relists(tmp_path: Path) -> None:
    path = tmp_path / "state.db"

    def svc(name: str, rv: str) -> Observed:
        return Observed(kind="Service", namespace="ns", name=name, uid=f"u-{name}", resource_version=rv,
                        body={"name": name, "rv": rv})

    async def main() -> None:
        store = await Store.open(path=path)
        try:
            await store.apply_watch_batch(resource="services", kind="Service", upserts=[svc("a", "1"), svc("b", "1")],
                                          deletes=[], resource_version="1", relist=True)
            listed = (await store.cursor(resource="services"))
            assert listed is not None and listed.resource_version == "1"
            await store.apply_watch_batch(resource="services", kind="Service", upserts=[svc("a", "2")],
                                          deletes=[("ns", "b")], resource_version="2")
            cur = await store.cursor(resource="services")
            assert cur is not None and cur.resource_version == "2" and cur.listed_at == listed.listed_at
            assert [(o.name, o.resource_version) for o in await store.observed(kind="Service")] == [("a", "2")]
            vanished = await store.apply_watch_batch(resource="services", kind="Service", upserts=[svc("c", "3")],
                                                     deletes=[], resource_version="3", relist=True)
            assert [o.name for o in vanished] == ["a"] and vanished[0].body == {"name": "a", "rv": "2"}
            assert [o.name for o in await store.observed(kind="Service")] == ["c"]
            cur = await store.cursor(resource="services")
            assert cur is not None and cur.listed_at >= listed.listed_at and cur.resource_version == "3"
        finally:
            await store.close()

    asyncio.run(main())
