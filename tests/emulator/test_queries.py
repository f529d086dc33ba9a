"""Collection GET: filters, fields and paging (avi-api.md 2.2)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


async def make_pools(avi: Any, count: int, *, prefix: str = "p") -> None:
    for i in range(count):
        answer = await avi.post(
            "/api/pool",
            {
                "name": f"{prefix}{i:03d}",
                "created_by": "ako-S1" if i % 2 else "someone",
                "markers": [{"key": "clustername", "values": ["S1" if i % 3 == 0 else "S2"]}],
            },
        )
        assert answer.status == 201, answer.text


async def test_name_filter_finds_exactly_one_and_nothing_is_an_empty_200(avi: Any) -> None:
    await make_pools(avi, 3)

    found = await avi.get("/api/pool?name=p001")
    missing = await avi.get("/api/pool/?name=nope")  # trailing slash tolerated

    assert found.body["count"] == 1 and found.body["results"][0]["name"] == "p001"
    assert missing.status == 200 and missing.body == {"count": 0, "results": []}


async def test_name_contains_and_name_in(avi: Any) -> None:
    await make_pools(avi, 12)

    contains = await avi.get("/api/pool?name.contains=01")
    among = await avi.get("/api/pool?name.in=p002,p005,nope")

    assert [p["name"] for p in contains.body["results"]] == ["p001", "p010", "p011"]
    assert sorted(p["name"] for p in among.body["results"]) == ["p002", "p005"]


async def test_uuid_in_and_created_by(avi: Any) -> None:
    await make_pools(avi, 4)
    uuids = [(await avi.by_name("pool", n))["uuid"] for n in ("p000", "p003")]

    by_uuid = await avi.get(f"/api/pool?uuid.in={','.join(uuids)}")
    by_owner = await avi.get("/api/pool?created_by=ako-S1")

    assert sorted(p["uuid"] for p in by_uuid.body["results"]) == sorted(uuids)
    assert [p["name"] for p in by_owner.body["results"]] == ["p001", "p003"]


async def test_label_key_and_value_filter_on_markers(avi: Any) -> None:
    await make_pools(avi, 7)

    answer = await avi.get("/api/pool?label_key=clustername&label_value=S1")

    assert [p["name"] for p in answer.body["results"]] == ["p000", "p003", "p006"]


async def test_cloud_ref_name_filter(avi: Any) -> None:
    answer = await avi.get("/api/vrfcontext/?include_name&name=global&cloud_ref.name=Default-Cloud")
    nothing = await avi.get("/api/vrfcontext/?name=global&cloud_ref.name=Other")

    assert answer.body["count"] == 1 and answer.body["results"][0]["cloud_ref"].endswith("#Default-Cloud")
    assert nothing.body["count"] == 0


async def test_fields_returns_only_those_plus_identity(avi: Any) -> None:
    await make_pools(avi, 1)

    answer = await avi.get("/api/pool?fields=created_by")

    assert set(answer.body["results"][0]) == {"url", "uuid", "name", "created_by"}


async def test_pages_default_to_25_and_next_leads_through_all_objects(avi: Any) -> None:
    await make_pools(avi, 60)

    first = await avi.get("/api/pool")
    assert first.body["count"] == 60 and len(first.body["results"]) == 25
    names = [p["name"] for p in first.body["results"]]
    link = first.body.get("next")
    while link:
        parts = urlsplit(link)
        page = await avi.get(f"{parts.path}?{parts.query}")
        names += [p["name"] for p in page.body["results"]]
        link = page.body.get("next")

    assert names == [f"p{i:03d}" for i in range(60)]


async def test_page_size_is_honoured_and_capped_at_200(avi: Any) -> None:
    await make_pools(avi, 5)

    small = await avi.get("/api/pool?page_size=2&page=3")
    large = await avi.get("/api/pool?page_size=1000")

    assert [p["name"] for p in small.body["results"]] == ["p004"] and "next" not in small.body
    assert large.body["count"] == 5 and "next" not in large.body


async def test_refers_to_lists_the_objects_that_use_one(avi: Any) -> None:
    pool = await avi.post("/api/pool", {"name": "shared"})
    await avi.post("/api/poolgroup", {"name": "g1", "members": [{"pool_ref": pool.body["url"]}]})
    await avi.post("/api/poolgroup", {"name": "g2"})

    answer = await avi.get(f"/api/poolgroup?refers_to=pool:{pool.body['uuid']}")

    assert [g["name"] for g in answer.body["results"]] == ["g1"]


async def test_a_bad_page_number_is_400(avi: Any) -> None:
    assert (await avi.get("/api/pool?page=zero")).status == 400
