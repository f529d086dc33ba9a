"""`OwnedSync.apply` when a write's outcome is not what was sent: timeouts, 409, 404, cancellation.

Names are deterministic, so whatever happened to a write is found by reading the object back by
name: these tests pin that nothing is ever created twice and that every journal row ends in the
state that tells what happened (`unknown` rows cut off by a cancel are closed at the next start by
`resolve_open_rows` after the applied state is rebuilt from the controller).

The emulator applies write latency before it reads the request body, so a write whose client has
gone (timed out, cancelled) never takes effect there: it is logged with status 0 ("dropped"). A
controller that did handle such a write and only lost the answer is played by making the same
object by hand while akod's call is still in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from akod.avi import AviOutcomeUnknown
from akod.store import DONE, INTENT, SUPERSEDED, UNKNOWN
from akod.sync.inventory import rebuild_applied
from akod.sync.owned import ObjectRejected
from tests.unit.owned_rig import KEY, Rig, kuard, one, open_rig
from tests.unit.polling import eventually

TYPES = ("vsvip", "pool", "l4policyset", "virtualservice")
VS = "S1-AZ1--default-kuard"
POOL = f"{VS}-TCP-8080"
DROPPED = ("POST", "/api/vsvip", 0)  # logged once the emulator gave up a write whose client left


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with open_rig(tmp_path) as opened:
        yield opened


async def counts(rig: Rig) -> dict[str, int]:
    return {t: len(await rig.on_controller(t)) for t in TYPES}


async def restart_resolution(rig: Rig) -> int:
    """What a start does before syncing keys: rebuild the applied state, close the open rows."""
    await rebuild_applied(client=rig.client, store=rig.store, cluster="S1-AZ1", cloud="Default-Cloud",
                          tenant="admin")
    return await rig.owned.resolve_open_rows()


async def test_a_create_that_timed_out_is_read_back_left_open_and_created_once_by_the_next_apply(
        tmp_path: Path) -> None:
    async with open_rig(tmp_path, timeout_s=0.5) as rig:
        await rig.set_faults({"latency_ms": {"write": 1000}})

        with pytest.raises(AviOutcomeUnknown):
            await rig.owned.apply(key=KEY, objects=kuard(8080).objects)

        assert rig.arrivals.arrived[-2:] == [("POST", "/api/vsvip"), ("GET", "/api/vsvip")]  # sent once, read back
        assert await rig.journal() == [("POST", "vsvip", INTENT)] + [("POST", t, SUPERSEDED) for t in TYPES[1:]]
        await eventually(lambda: _answered(rig, DROPPED), what="the controller gives up the cut-off create")
        await rig.set_faults({})
        mark = await rig.log_mark()

        await rig.owned.apply(key=KEY, objects=kuard(8080).objects)

        assert await rig.writes(since=mark) == [("POST", t) for t in TYPES]
        assert await counts(rig) == {t: 1 for t in TYPES}
        assert (await rig.journal())[4:] == [("POST", t, DONE) for t in TYPES]


async def test_a_create_that_timed_out_but_took_effect_is_read_back_as_done_and_the_key_goes_on(
        tmp_path: Path) -> None:
    async with open_rig(tmp_path, timeout_s=1.0) as rig:
        objects = kuard(8080).objects
        await rig.set_faults({"latency_ms": {"write": 1500}})
        apply = asyncio.create_task(rig.owned.apply(key=KEY, objects=objects))
        await eventually(lambda: _arrived(rig, ("POST", "/api/vsvip")), what="the create reaches the controller")
        # The emulator drops a write whose client left before its body was read; a controller that handled
        # it and lost only the answer is played by making the same object while the client waits.
        await rig.set_faults({})
        made = await rig.create_by_hand(one(objects, "vsvip"))

        await asyncio.wait_for(apply, timeout=10)

        assert rig.arrivals.arrived.count(("POST", "/api/vsvip")) == 2  # ours (timed out) and the one by hand
        assert await rig.journal() == [("POST", t, DONE) for t in TYPES]
        (vsvip_row,) = [r for r in await rig.store.journal() if r.obj_type == "vsvip"]
        assert "reading back" in vsvip_row.last_error
        stored = await rig.store.applied(obj_type="vsvip", tenant="admin", name=VS)
        assert stored is not None and stored.uuid == made["uuid"]
        await eventually(lambda: _answered(rig, DROPPED), what="the controller gives up the cut-off create")
        assert await counts(rig) == {t: 1 for t in TYPES}


async def test_a_create_meeting_409_adopts_the_existing_pool_and_overwrites_what_differs(rig: Rig) -> None:
    await rig.create_by_hand(one(kuard(8080, members=("10.9.9.9",)).objects, "pool"))
    objects = kuard(8080).objects

    await rig.owned.apply(key=KEY, objects=objects)

    pool_calls = [r for r in await rig.requests() if r[1].startswith("/api/pool") and r[0] != "GET"]
    assert [(m, s) for m, _, s in pool_calls] == [("POST", 201), ("POST", 409), ("PUT", 200)]  # by hand, then ours
    (pool,) = await rig.on_controller("pool", POOL)
    assert [s["ip"]["addr"] for s in pool["servers"]] == ["10.34.1.6", "10.34.2.7"]
    assert pool["cloud_config_cksum"] == one(objects, "pool").checksum
    assert await rig.journal() == [("POST", t, DONE) for t in TYPES]
    assert await counts(rig) == {t: 1 for t in TYPES}


async def test_a_create_meeting_409_on_an_identical_pool_adopts_it_without_writing_it(rig: Rig) -> None:
    objects = kuard(8080).objects
    created = await rig.create_by_hand(one(objects, "pool"))
    mark = await rig.log_mark()

    await rig.owned.apply(key=KEY, objects=objects)

    assert await rig.writes(since=mark) == [("POST", t) for t in TYPES]
    stored = await rig.store.applied(obj_type="pool", tenant="admin", name=POOL)
    assert stored is not None and stored.uuid == created["uuid"] and stored.owner_key == KEY
    assert await counts(rig) == {t: 1 for t in TYPES}


async def test_an_update_of_a_vs_deleted_behind_our_back_creates_it_again(rig: Rig) -> None:
    await rig.owned.apply(key=KEY, objects=kuard(8080).objects)
    (old,) = await rig.on_controller("virtualservice", VS)
    await rig.delete_by_hand("virtualservice", VS)
    mark = await rig.log_mark()
    disabled = kuard(8080, annotations={"ako.vmware.com/disable-traffic": "true"}).objects

    await rig.owned.apply(key=KEY, objects=disabled)

    assert [(m, p.split("/")[2], s) for m, p, s in await rig.requests(since=mark) if m != "GET"] == [
        ("PUT", "virtualservice", 404), ("POST", "virtualservice", 201)]
    (vs,) = await rig.on_controller("virtualservice", VS)
    assert vs["traffic_enabled"] is False and vs["uuid"] != old["uuid"]
    stored = await rig.store.applied(obj_type="virtualservice", tenant="admin", name=VS)
    assert stored is not None and stored.uuid == vs["uuid"]
    assert (await rig.journal())[-1] == ("PUT", "virtualservice", DONE)


async def test_a_cancel_during_a_create_that_takes_effect_is_closed_as_done_at_the_next_start(rig: Rig) -> None:
    objects = kuard(8080).objects
    await rig.set_faults({"latency_ms": {"write": 1000}})
    apply = asyncio.create_task(rig.owned.apply(key=KEY, objects=objects))
    await eventually(lambda: _arrived(rig, ("POST", "/api/vsvip")), what="the VsVip create reaches the controller")

    apply.cancel()
    with pytest.raises(asyncio.CancelledError):
        await apply

    assert await rig.journal() == [("POST", "vsvip", UNKNOWN)] + [("POST", t, SUPERSEDED) for t in TYPES[1:]]
    await rig.set_faults({})
    await rig.create_by_hand(one(objects, "vsvip"))  # the controller's side of the cut-off create (module docstring)

    assert await restart_resolution(rig) == 1

    assert await rig.journal() == [("POST", "vsvip", DONE)] + [("POST", t, SUPERSEDED) for t in TYPES[1:]]
    (row,) = [r for r in await rig.store.journal() if r.obj_type == "vsvip"]
    assert row.last_error.startswith("unknown at start") and "it took effect" in row.last_error
    mark = await rig.log_mark()
    await rig.owned.apply(key=KEY, objects=objects)
    assert await rig.writes(since=mark) == [("POST", t) for t in TYPES[1:]]
    await eventually(lambda: _answered(rig, DROPPED), what="the controller gives up the cut-off create")
    assert await counts(rig) == {t: 1 for t in TYPES}


async def test_a_cancel_during_a_create_that_never_took_effect_is_closed_as_superseded(tmp_path: Path) -> None:
    # The controller answers 503 and the client sits in its (long) backoff: the create is in flight, never done.
    async with open_rig(tmp_path, backoff_base_s=5.0, backoff_cap_s=5.0, max_attempts=6) as rig:
        await rig.set_faults({"errors": [{"method": "POST", "path": "/api/vsvip", "status": 503}]})
        apply = asyncio.create_task(rig.owned.apply(key=KEY, objects=kuard(8080).objects))
        await eventually(lambda: _answered(rig, ("POST", "/api/vsvip", 503)), what="the first attempt is refused")

        apply.cancel()
        with pytest.raises(asyncio.CancelledError):
            await apply

        assert await rig.journal() == [("POST", "vsvip", UNKNOWN)] + [("POST", t, SUPERSEDED) for t in TYPES[1:]]
        await rig.set_faults({})
        assert await restart_resolution(rig) == 1
        assert await rig.journal() == [("POST", t, SUPERSEDED) for t in TYPES]
        (row,) = [r for r in await rig.store.journal() if r.obj_type == "vsvip"]
        assert "did not take effect" in row.last_error
        assert await rig.on_controller("vsvip") == []


async def test_a_delete_the_controller_refuses_fails_its_row_and_rejects_the_object(rig: Rig) -> None:
    await rig.owned.apply(key=KEY, objects=kuard(8080, 8443).objects)
    await rig.set_faults({"errors": [{"method": "DELETE", "path": "/api/pool", "status": 403}]})

    with pytest.raises(ObjectRejected):
        await rig.owned.apply(key=KEY, objects=kuard(8080).objects)

    assert (await rig.journal())[-1] == ("DELETE", "pool", "failed")


async def _exists(rig: Rig, obj_type: str) -> bool:
    return bool(await rig.on_controller(obj_type))


async def _arrived(rig: Rig, request: tuple[str, str]) -> bool:
    return request in rig.arrivals.arrived


async def _answered(rig: Rig, answer: tuple[str, str, int]) -> bool:
    return answer in await rig.requests()
