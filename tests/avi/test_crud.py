"""The verbs: CRUD, paging that follows `next`, lookups by name, and typed errors."""

from __future__ import annotations

import pytest

from akod.avi import (
    AviAmbiguousName,
    AviBadRequest,
    AviClient,
    AviConflict,
    AviError,
    AviForbidden,
    AviNotFound,
    AviPreconditionFailed,
)

from .fake_controller import FakeController, Reply


async def test_pool_lifecycle(fake: FakeController, client: AviClient) -> None:
    created = await client.post("pool", {"name": "p1", "servers": []})
    uuid = created["uuid"]
    assert await client.get(f"pool/{uuid}") == created
    assert await client.get(f"/api/pool/{uuid}") == created

    replaced = await client.put(
        "pool", uuid, {**created, "lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN"}
    )
    assert replaced["lb_algorithm"] == "LB_ALGORITHM_ROUND_ROBIN"
    server = {"ip": {"addr": "10.0.0.1", "type": "V4"}}
    patched = await client.patch("pool", uuid, {"add": {"servers": [server]}})
    assert patched["servers"] == [server]

    await client.delete("pool", uuid)
    assert fake.objects["pool"] == {}
    assert [r.method for r in fake.requests if r.path.startswith("/api/")] == [
        "POST",
        "GET",
        "GET",
        "PUT",
        "PATCH",
        "DELETE",
    ]


async def test_delete_of_a_missing_object_succeeds(fake: FakeController, client: AviClient) -> None:
    await client.delete("pool", "pool-gone")
    assert fake.seen("DELETE", "/api/pool/pool-gone")


async def test_list_follows_next_but_stays_on_our_host(
    fake: FakeController, client: AviClient
) -> None:
    for i in range(7):
        fake.add("pool", {"name": f"p{i}"})
    pools = await client.list("pool", params={"page_size": "3"})
    assert [p["name"] for p in pools] == [f"p{i}" for i in range(7)]
    pages = fake.seen("GET", "/api/pool")
    assert [r.query.get("page") for r in pages] == [None, "2", "3"]
    assert all(r.query["page_size"] == "3" for r in pages)


async def test_list_asks_for_pages_of_200(fake: FakeController, client: AviClient) -> None:
    for i in range(201):
        fake.add("pool", {"name": f"p{i}"})
    assert len(await client.list("pool")) == 201
    assert [r.query for r in fake.seen("GET", "/api/pool")] == [
        {"page_size": "200"},
        {"page_size": "200", "page": "2"},
    ]


async def test_list_passes_filters(fake: FakeController, client: AviClient) -> None:
    fake.add("pool", {"name": "a"})
    fake.add("pool", {"name": "b"})
    assert [p["name"] for p in await client.list("pool", params={"name": "b"})] == ["b"]
    assert fake.seen("GET", "/api/pool")[0].query == {"name": "b", "page_size": "200"}


async def test_get_by_name(fake: FakeController, client: AviClient) -> None:
    fake.add("vrfcontext", {"name": "global"})
    fake.add("vrfcontext", {"name": "global"})
    pool = fake.add("pool", {"name": "p1"})
    assert await client.get_by_name("pool", "p1") == pool
    assert await client.get_by_name("pool", "nope") is None
    with pytest.raises(AviAmbiguousName):
        await client.get_by_name("vrfcontext", "global")
    query = fake.seen("GET", "/api/vrfcontext")[0].query
    assert query["name"] == "global"


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, AviBadRequest),
        (403, AviForbidden),
        (404, AviNotFound),
        (409, AviConflict),
        (412, AviPreconditionFailed),
        (422, AviError),
    ],
)
async def test_final_statuses_raise_typed_errors_without_retrying(
    fake: FakeController, client: AviClient, status: int, error_type: type[AviError]
) -> None:
    fake.fail("POST", "/api/pool", Reply(status, {"error": f"controller says {status}"}))
    with pytest.raises(error_type) as caught:
        await client.post("pool", {"name": "p1"})
    error = caught.value
    assert type(error) is error_type
    assert (error.status, error.method, error.path) == (status, "POST", "/api/pool")
    assert error.message == f"controller says {status}"
    assert len(fake.seen("POST", "/api/pool")) == 1
    assert client.connected


async def test_error_message_is_the_text_when_the_body_is_not_json(
    fake: FakeController, client: AviClient
) -> None:
    fake.fail("GET", "/api/pool/x", Reply(404, "no such thing"))
    with pytest.raises(AviNotFound, match="no such thing"):
        await client.get("pool/x")


async def test_a_duplicate_create_is_a_conflict(fake: FakeController, client: AviClient) -> None:
    await client.post("pool", {"name": "p1"})
    with pytest.raises(AviConflict, match="already exists"):
        await client.post("pool", {"name": "p1"})


async def test_a_stale_put_is_a_precondition_failure(
    fake: FakeController, client: AviClient
) -> None:
    created = await client.post("pool", {"name": "p1"})
    await client.patch("pool", created["uuid"], {"replace": {"description": "changed by someone"}})
    with pytest.raises(AviPreconditionFailed):
        await client.put("pool", created["uuid"], created)


async def test_empty_uuid_is_refused_before_any_call(client: AviClient) -> None:
    with pytest.raises(ValueError):
        await client.delete("pool", "")
