"""The watch loop (`run_watch`) against a scripted API server: list, resume, events, 410, 404, drops.

The loop runs as it does in the daemon: a real kubernetes-asyncio `ApiClient` over real HTTP,
the generic lister of `akod.kube.listing`, the Node trim, a real `Store` in a temporary folder.
What the tests look at is what the daemon's users see: the requests the server got (did it list?
from which resourceVersion did it watch?), the Nodes and the cursor in the store, what `on_change`
was told, and the `WatchState` the status endpoint shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from akod.kube.listing import lister
from akod.kube.trimming import trim_node
from akod.kube.watching import WatchSpec, WatchState, run_watch
from akod.model.observed import Observed
from akod.store import Store
from tests.unit.polling import eventually
from tests.unit.scripted_apiserver import (
    GONE,
    NOT_FOUND,
    Apiserver,
    Script,
    bookmark,
    error,
    event,
    gated,
    listing,
    node,
    serving,
    stream,
)

# The loop's floor between LISTs (and its wait after a 404), short so that the tests stay quick.
RELIST_S = 0.3


@dataclass
class Changes:
    """`on_change`: every call's upserts and deletions, by name."""

    calls: list[tuple[list[str], list[str]]] = field(default_factory=list)

    async def __call__(self, upserts: Sequence[Observed], deleted: Sequence[Observed]) -> None:
        self.calls.append(([o.name for o in upserts], [o.name for o in deleted]))

    def upserted(self) -> list[str]:
        return sorted({n for ups, _ in self.calls for n in ups})

    def deleted(self) -> list[str]:
        return sorted({n for _, dels in self.calls for n in dels})


@dataclass
class Loop:
    server: Apiserver
    store: Store
    state: WatchState
    changes: Changes

    async def nodes(self) -> dict[str, str]:
        """The stored Nodes: name -> resourceVersion."""
        return {o.name: o.resource_version for o in await self.store.observed(kind="Node")}

    async def cursor(self) -> str | None:
        found = await self.store.cursor(resource="nodes")
        return None if found is None else found.resource_version


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(path=tmp_path / "state.db")
    yield opened
    await opened.close()


async def stored_before(store: Store, rv: str, *nodes: str) -> None:
    """What a previous run left: these Nodes and the cursor `rv`."""
    await store.apply_watch_batch(resource="nodes", kind="Node", upserts=[trim_node(node(n, rv)) for n in nodes],
                                  deletes=[], resource_version=rv, relist=True)


@contextlib.asynccontextmanager
async def watching(server: Apiserver, store: Store) -> AsyncIterator[Loop]:
    """`run_watch` on `server` as a task, cancelled on the way out."""
    async with serving(server) as api:
        spec = WatchSpec(resource="nodes", kind="Node", list_fn=lister(api, group_version="v1", plural="nodes"),
                         trim=trim_node)
        loop = Loop(server=server, store=store, state=WatchState(), changes=Changes())
        task = asyncio.create_task(run_watch(spec=spec, store=store, state=loop.state, on_change=loop.changes,
                                             timeout_s=60, backoff_cap_s=0.05, relist_interval_s=RELIST_S))
        try:
            yield loop
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert task.cancelled()


def watched_from(loop: Loop) -> list[str]:
    return [q["resourceVersion"] for q in loop.server.watch_queries()]


async def test_a_first_start_lists_stores_every_node_and_the_cursor_then_watches_from_it(store: Store) -> None:
    server = Apiserver(lists=[listing("100", node("n1", "90"), node("n2", "95"))])
    async with watching(server, store) as loop:
        await eventually(lambda: len(server.watch_queries()) == 1, what="the watch starts")

        assert server.list_count() == 1 and server.queries[0] == {"limit": "500"}
        assert server.watch_queries() == [{"watch": "true", "resourceVersion": "100", "timeoutSeconds": "60",
                                           "allowWatchBookmarks": "true"}]
        assert await loop.nodes() == {"n1": "90", "n2": "95"}
        assert await loop.cursor() == "100"
        assert loop.changes.calls == [(["n1", "n2"], [])]
        await eventually(lambda: loop.state.connected, what="the watch is established")
        assert loop.state.synced and loop.state.relists == 1 and loop.state.resource_version == "100"


async def test_the_stored_nodes_keep_only_what_akod_uses(store: Store) -> None:
    server = Apiserver(lists=[listing("100", node("n1", "90", ip="10.10.30.12"))])
    async with watching(server, store):
        await eventually(lambda: len(server.watch_queries()) == 1, what="the watch starts")
        (stored,) = await store.observed(kind="Node")

    assert stored.body == {"name": "n1", "created": "2026-01-01T00:00:00Z", "labels": {}, "annotations": {},
                           "internal_ips": ["10.10.30.12"], "pod_cidrs": ["10.244.1.0/24"]}


async def test_a_restart_with_a_stored_cursor_resumes_the_watch_from_it_without_listing(store: Store) -> None:
    await stored_before(store, "100", "n1", "n2")
    server = Apiserver()
    async with watching(server, store) as loop:
        await eventually(lambda: loop.state.connected, what="the watch is established")

        assert server.list_count() == 0
        assert watched_from(loop) == ["100"]
        assert loop.changes.calls == [] and loop.state.relists == 0
        assert loop.state.synced  # ready with nothing changed, although no event ever came
        assert await loop.nodes() == {"n1": "100", "n2": "100"}


async def test_watch_events_are_stored_with_the_newest_resource_version_and_passed_on(store: Store) -> None:
    await stored_before(store, "100", "n1", "n2")
    server = Apiserver(watches=[stream(event("ADDED", node("n3", "101")),
                                       event("MODIFIED", node("n1", "102", ip="10.10.30.99")),
                                       event("DELETED", node("n2", "103")),
                                       bookmark("110"))])
    async with watching(server, store) as loop:
        await eventually(lambda: _cursor_is(store, "110"), what="the bookmark moves the cursor")

        assert await loop.nodes() == {"n1": "102", "n3": "101"}
        n1 = await store.observed_one(kind="Node", namespace="", name="n1")
        assert n1 is not None and n1.body["internal_ips"] == ["10.10.30.99"]
        assert loop.changes.upserted() == ["n1", "n3"] and loop.changes.deleted() == ["n2"]
        assert loop.state.resource_version == "110"
        assert server.list_count() == 0


@pytest.mark.parametrize("gone", [stream(event("ERROR", GONE)), error(410, GONE)], ids=["error-event", "http-410"])
async def test_a_410_lists_again_and_reports_nodes_deleted_meanwhile(store: Store, gone: Script) -> None:
    await stored_before(store, "100", "n1", "n2")
    server = Apiserver(watches=[gone], lists=[listing("200", node("n1", "150"), node("n3", "180"))])
    async with watching(server, store) as loop:
        await eventually(lambda: len(server.watch_queries()) == 2, what="the watch starts again after the list")

        assert watched_from(loop) == ["100", "200"]
        assert server.list_count() == 1
        assert loop.changes.calls == [(["n1", "n3"], ["n2"])]
        assert await loop.nodes() == {"n1": "150", "n3": "180"}
        assert await loop.cursor() == "200"
        assert loop.state.relists == 1 and loop.state.restarts == 0


async def test_a_404_for_the_relist_is_retried_and_never_read_as_every_node_deleted(store: Store) -> None:
    await stored_before(store, "100", "n1", "n2")
    served = asyncio.Event()
    server = Apiserver(watches=[error(410, GONE)],
                       lists=[error(404, NOT_FOUND), error(404, NOT_FOUND),
                              gated(served, listing("300", node("n1", "250"), node("n2", "260")))])
    async with watching(server, store) as loop:
        await eventually(lambda: server.list_count() == 3, what="two failed lists, and a third asked")
        assert loop.state.restarts == 2 and "404" in loop.state.last_error and not loop.state.synced
        assert await loop.nodes() == {"n1": "100", "n2": "100"} and loop.changes.calls == []

        served.set()
        await eventually(lambda: len(server.watch_queries()) == 2, what="the third list succeeds")

        assert watched_from(loop) == ["100", "300"]
        assert loop.changes.calls == [(["n1", "n2"], [])]
        assert await loop.nodes() == {"n1": "250", "n2": "260"}


async def test_a_404_for_the_first_list_stores_nothing_and_is_retried(store: Store) -> None:
    served = asyncio.Event()
    server = Apiserver(lists=[error(404, NOT_FOUND), gated(served, listing("100", node("n1", "90")))])
    async with watching(server, store) as loop:
        await eventually(lambda: server.list_count() == 2, what="a failed list, and a second asked")
        assert loop.state.restarts == 1 and not loop.state.synced
        assert await loop.cursor() is None and await loop.nodes() == {} and loop.changes.calls == []

        served.set()
        await eventually(lambda: len(server.watch_queries()) == 1, what="the second list succeeds")

        assert await loop.nodes() == {"n1": "90"} and await loop.cursor() == "100"


async def test_a_watch_the_server_ends_resumes_from_the_newest_resource_version(store: Store) -> None:
    await stored_before(store, "100", "n1")
    server = Apiserver(watches=[stream(event("ADDED", node("n2", "101")), bookmark("105"), then="close")])
    async with watching(server, store) as loop:
        await eventually(lambda: len(server.watch_queries()) == 2, what="the watch is made again")

        assert watched_from(loop) == ["100", "105"]
        assert loop.state.restarts == 0 and server.list_count() == 0


def dropped_once_stored(store: Store) -> Apiserver:
    """A watch sending two events (up to resourceVersion 102), dropped once the loop has stored them."""
    async def stored() -> None:
        await eventually(lambda: _cursor_is(store, "102"), what="the events are stored")
    return Apiserver(watches=[stream(event("ADDED", node("n2", "101")), event("MODIFIED", node("n1", "102")),
                                     then="drop", before_end=stored)])


async def test_a_connection_dropped_mid_stream_reconnects_and_keeps_what_it_stored(store: Store) -> None:
    await stored_before(store, "100", "n1")
    server = dropped_once_stored(store)
    async with watching(server, store) as loop:
        await eventually(lambda: len(server.watch_queries()) == 2, what="the watch is made again")

        assert loop.state.restarts == 1 and loop.state.last_error
        await eventually(lambda: loop.state.connected, what="connected again")
        assert server.list_count() == 0
        assert await loop.nodes() == {"n1": "102", "n2": "101"}
        assert loop.changes.upserted() == ["n1", "n2"]


async def test_a_connection_dropped_mid_stream_reconnects_from_the_last_resource_version(store: Store) -> None:
    await stored_before(store, "100", "n1")
    server = dropped_once_stored(store)
    async with watching(server, store) as loop:
        await eventually(lambda: len(server.watch_queries()) == 2, what="the watch is made again")

        assert watched_from(loop) == ["100", "102"]


async def _cursor_is(store: Store, rv: str) -> bool:
    found = await store.cursor(resource="nodes")
    return found is not None and found.resource_version == rv


async def test_a_server_that_answers_every_watch_with_410_is_listed_at_most_once_per_interval(store: Store) -> None:
    server = Apiserver(watches=[error(410, GONE) for _ in range(10)],
                       lists=[listing(str(100 + i), node("n1", str(90 + i))) for i in range(10)])
    async with watching(server, store):
        await eventually(lambda: server.list_count() >= 4, within_s=5, what="four lists")
        times = server.list_times()
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(gap >= RELIST_S * 0.95 for gap in gaps), gaps  # no busy relist loop


async def test_a_resource_the_server_does_not_serve_is_asked_for_again_only_after_the_interval(store: Store) -> None:
    server = Apiserver(lists=[error(404, NOT_FOUND), error(404, NOT_FOUND), error(404, NOT_FOUND)])
    async with watching(server, store) as loop:
        await eventually(lambda: server.list_count() >= 3, within_s=5, what="three lists")
        times = server.list_times()
        assert all(b - a >= RELIST_S * 0.95 for a, b in zip(times, times[1:])), times
        assert await loop.nodes() == {} and loop.changes.calls == []
