"""`OwnedSync.apply` against the strict controller emulator: creates, no-ops, updates, deletes, refusals, 5xx.

Each test applies the real L4 translation of Service default/kuard (a VsVip, one pool per port,
an L4 policy set, a virtual service) through a real client and a real store, then looks at what a
user would see: the controller's objects, the writes it received, the journal and applied rows.
Timeouts, 409s, 404s and cancellation are in `test_owned_unknown_outcomes.py`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from akod.avi import AviUnavailable
from akod.model.objects import AviObject
from akod.store import DONE, FAILED, INTENT, SUPERSEDED
from akod.sync.owned import ObjectRejected
from tests.unit.owned_rig import KEY, Rig, kuard, one, open_rig

TYPES = ("vsvip", "pool", "l4policyset", "virtualservice")
VS = "S1-AZ1--default-kuard"
POOL_8080, POOL_8443 = f"{VS}-TCP-8080", f"{VS}-TCP-8443"


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with open_rig(tmp_path) as opened:
        yield opened


async def test_first_apply_creates_every_object_in_rank_order_and_journals_each_done(rig: Rig) -> None:
    objects = kuard(8080, 8443).objects

    applied = await rig.owned.apply(key=KEY, objects=objects)

    assert await rig.writes() == [("POST", "vsvip"), ("POST", "pool"), ("POST", "pool"), ("POST", "l4policyset"),
                                  ("POST", "virtualservice")]
    assert await rig.names_on_controller(*TYPES) == {"vsvip": [VS], "pool": [POOL_8080, POOL_8443],
                                                     "l4policyset": [VS], "virtualservice": [VS]}
    assert await rig.journal() == [("POST", t, DONE) for t in ("vsvip", "pool", "pool", "l4policyset",
                                                                "virtualservice")]
    rows = await rig.store.applied_for_key(owner_key=KEY, idents=[])
    on_controller = {(t, o["name"]): o["uuid"] for t in TYPES for o in await rig.on_controller(t)}
    assert {(a.obj_type, a.name): a.uuid for a in rows} == on_controller
    assert {(a.obj_type, a.name): a.checksum for a in rows} == {(o.obj_type, o.name): o.checksum for o in objects}
    assert set(applied) == {(o.obj_type, o.tenant, o.name) for o in objects}
    (vip,) = applied["vsvip", "admin", VS].info["vips"]
    assert ipaddress.ip_address(vip) in ipaddress.ip_network("10.10.25.0/24")


async def test_applying_the_same_objects_again_sends_no_request_at_all(rig: Rig) -> None:
    objects = kuard(8080).objects
    await rig.owned.apply(key=KEY, objects=objects)
    journal = await rig.journal()
    mark = await rig.log_mark()

    again = await rig.owned.apply(key=KEY, objects=kuard(8080).objects)

    assert await rig.requests(since=mark) == []
    assert await rig.journal() == journal
    assert set(again) == {(o.obj_type, o.tenant, o.name) for o in objects}


async def test_a_pool_whose_members_changed_is_written_with_exactly_one_put(rig: Rig) -> None:
    await rig.owned.apply(key=KEY, objects=kuard(8080).objects)
    (before,) = await rig.on_controller("pool", POOL_8080)
    mark = await rig.log_mark()
    changed = kuard(8080, members=("10.34.3.9",)).objects

    await rig.owned.apply(key=KEY, objects=changed)

    assert await rig.writes(since=mark) == [("PUT", "pool")]
    (after,) = await rig.on_controller("pool", POOL_8080)
    assert after["uuid"] == before["uuid"]
    assert [s["ip"]["addr"] for s in after["servers"]] == ["10.34.3.9"]
    assert (await rig.journal())[-1] == ("PUT", "pool", DONE)
    stored = await rig.store.applied(obj_type="pool", tenant="admin", name=POOL_8080)
    assert stored is not None and stored.checksum == one(changed, "pool").checksum


async def test_a_port_removed_from_the_service_deletes_its_pool_after_its_referrers_stop_naming_it(
        rig: Rig) -> None:
    await rig.owned.apply(key=KEY, objects=kuard(8080, 8443).objects)
    mark = await rig.log_mark()

    await rig.owned.apply(key=KEY, objects=kuard(8080).objects)

    assert await rig.writes(since=mark) == [("PUT", "l4policyset"), ("PUT", "virtualservice"), ("DELETE", "pool")]
    assert (await rig.names_on_controller("pool"))["pool"] == [POOL_8080]
    assert await rig.store.applied(obj_type="pool", tenant="admin", name=POOL_8443) is None
    assert (await rig.journal())[-1] == ("DELETE", "pool", DONE)


async def test_a_key_left_with_no_objects_deletes_the_vs_first_and_its_vip_last(rig: Rig) -> None:
    await rig.owned.apply(key=KEY, objects=kuard(8080, 8443).objects)
    mark = await rig.log_mark()

    assert await rig.owned.apply(key=KEY, objects=[]) == {}

    assert await rig.writes(since=mark) == [("DELETE", "virtualservice"), ("DELETE", "l4policyset"),
                                            ("DELETE", "pool"), ("DELETE", "pool"), ("DELETE", "vsvip")]
    assert await rig.names_on_controller(*TYPES) == {t: [] for t in TYPES}
    assert await rig.store.applied_for_key(owner_key=KEY, idents=[]) == []
    assert await rig.store.desired(owner_key=KEY) == []
    assert [state for op, _, state in await rig.journal() if op == "DELETE"] == [DONE] * 5


async def test_a_pool_with_a_field_the_controller_lacks_is_rejected_and_the_ranks_after_it_not_attempted(
        rig: Rig) -> None:
    good = kuard(8080).objects
    pool = one(good, "pool")
    bad_pool = AviObject(obj_type="pool", tenant="admin", name=pool.name, body={**pool.body, "server_port": 80})
    bad = [bad_pool if o.obj_type == "pool" else o for o in good]

    with pytest.raises(ObjectRejected) as refused:
        await rig.owned.apply(key=KEY, objects=bad)

    assert refused.value.obj.name == POOL_8080 and refused.value.error.status == 400
    assert "server_port" in str(refused.value)
    assert await rig.journal() == [("POST", "vsvip", DONE), ("POST", "pool", FAILED),
                                   ("POST", "l4policyset", SUPERSEDED), ("POST", "virtualservice", SUPERSEDED)]
    assert await rig.names_on_controller(*TYPES) == {"vsvip": [VS], "pool": [], "l4policyset": [],
                                                     "virtualservice": []}
    mark = await rig.log_mark()

    await rig.owned.apply(key=KEY, objects=good)

    assert await rig.writes(since=mark) == [("POST", "pool"), ("POST", "l4policyset"), ("POST", "virtualservice")]
    assert await rig.names_on_controller(*TYPES) == {"vsvip": [VS], "pool": [POOL_8080], "l4policyset": [VS],
                                                     "virtualservice": [VS]}


@pytest.mark.parametrize(("status", "refused_type"), [(400, "virtualservice"), (403, "l4policyset"), (422, "pool")])
async def test_a_refused_create_fails_its_row_supersedes_later_ranks_and_is_not_duplicated_later(
        rig: Rig, status: int, refused_type: str) -> None:
    order = ["vsvip", "pool", "l4policyset", "virtualservice"]
    at = order.index(refused_type)
    await rig.set_faults({"errors": [{"method": "POST", "path": f"/api/{refused_type}", "status": status}]})

    with pytest.raises(ObjectRejected) as refused:
        await rig.owned.apply(key=KEY, objects=kuard(8080).objects)

    assert refused.value.obj.obj_type == refused_type and refused.value.error.status == status
    states = [DONE] * at + [FAILED] + [SUPERSEDED] * (len(order) - at - 1)
    assert await rig.journal() == [("POST", t, s) for t, s in zip(order, states, strict=True)]
    assert [t for t in order if await rig.on_controller(t)] == order[:at]
    await rig.set_faults({})
    mark = await rig.log_mark()

    await rig.owned.apply(key=KEY, objects=kuard(8080).objects)

    assert await rig.writes(since=mark) == [("POST", t) for t in order[at:]]
    assert {t: len(await rig.on_controller(t)) for t in order} == {t: 1 for t in order}


async def test_a_503_that_persists_leaves_the_row_open_and_the_next_apply_creates_the_pool_once(rig: Rig) -> None:
    await rig.set_faults({"errors": [{"method": "POST", "path": "/api/pool", "status": 503}]})

    with pytest.raises(AviUnavailable) as failed:
        await rig.owned.apply(key=KEY, objects=kuard(8080).objects)

    assert not isinstance(failed.value, ObjectRejected)
    assert [r for r in await rig.requests() if r[1] == "/api/pool"] == [
        ("POST", "/api/pool", 503)] * 3 + [("GET", "/api/pool", 200)]  # the client's 3 attempts, then a read back
    assert await rig.journal() == [("POST", "vsvip", DONE), ("POST", "pool", INTENT),
                                   ("POST", "l4policyset", SUPERSEDED), ("POST", "virtualservice", SUPERSEDED)]
    assert await rig.on_controller("pool") == []
    await rig.set_faults({})
    mark = await rig.log_mark()

    await rig.owned.apply(key=KEY, objects=kuard(8080).objects)

    assert await rig.writes(since=mark) == [("POST", "pool"), ("POST", "l4policyset"), ("POST", "virtualservice")]
    assert [o["name"] for o in await rig.on_controller("pool")] == [POOL_8080]
    assert (await rig.journal())[4:] == [("POST", "pool", DONE), ("POST", "l4policyset", DONE),
                                         ("POST", "virtualservice", DONE)]


async def test_the_retry_that_creates_the_pool_closes_the_row_the_503_left_open(rig: Rig) -> None:
    await rig.set_faults({"errors": [{"method": "POST", "path": "/api/pool", "status": 503}]})
    with pytest.raises(AviUnavailable):
        await rig.owned.apply(key=KEY, objects=kuard(8080).objects)
    await rig.set_faults({})

    await rig.owned.apply(key=KEY, objects=kuard(8080).objects)

    assert await rig.store.journal(states=[INTENT]) == []


async def test_a_create_answered_503_that_took_effect_is_found_by_reading_back_and_the_key_goes_on(
        rig: Rig) -> None:
    objects = kuard(8080).objects
    await rig.create_by_hand(one(objects, "pool"))  # as if an earlier, answered-503 POST had created it
    await rig.set_faults({"errors": [{"method": "POST", "path": "/api/pool", "status": 503}]})

    await rig.owned.apply(key=KEY, objects=objects)

    assert await rig.journal() == [("POST", t, DONE) for t in TYPES]
    (row,) = [r for r in await rig.store.journal() if r.obj_type == "pool"]
    assert "reading back" in row.last_error
    assert {t: len(await rig.on_controller(t)) for t in TYPES} == {t: 1 for t in TYPES}
    (pool,) = await rig.on_controller("pool")
    stored = await rig.store.applied(obj_type="pool", tenant="admin", name=POOL_8080)
    assert stored is not None and stored.uuid == pool["uuid"]
