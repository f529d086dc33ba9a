"""API versions and tenants: the headers every call carries (avi-api.md 1.4, 1.5)."""

from __future__ import annotations

from typing import Any


async def test_the_asked_version_is_echoed_in_avi_api_version(avi: Any) -> None:
    answer = await avi.get("/api/cloud", headers={"X-Avi-Version": "18.2.6"})

    assert answer.status == 200
    assert answer.headers["AVI_API_VERSION"] == "18.2.6"


async def test_a_call_without_a_version_gets_the_controllers_old_default(new_client: Any) -> None:
    client = await new_client(version=None)

    answer = await client.get("/api/cloud")

    assert answer.status == 200
    assert answer.headers["AVI_API_VERSION"] == "16_4_2"


async def test_a_version_above_the_controllers_is_400_invalid_version(avi: Any) -> None:
    answer = await avi.get("/api/cloud", headers={"X-Avi-Version": "22.1.3"})

    assert answer.status == 400
    assert answer.body["error"].startswith("Invalid version")


async def test_answers_leave_out_fields_newer_than_the_asked_version(avi: Any) -> None:
    created = await avi.post("/api/pool", {"name": "p-shape"})
    assert "routing_pool" in created.body  # introduced in 20.1.1

    old = await avi.get(f"/api/pool/{created.body['uuid']}", headers={"X-Avi-Version": "18.2.6"})

    assert old.status == 200 and "routing_pool" not in old.body and "name" in old.body


async def test_an_unknown_tenant_is_403_tenant_does_not_exist(new_client: Any) -> None:
    client = await new_client(tenant="nope")

    answer = await client.get("/api/pool")

    assert answer.status == 403
    assert answer.body["error"] == "Tenant 'nope' does not exist!"


async def test_objects_live_in_the_tenant_of_the_request(avi: Any, new_client: Any) -> None:
    created = await avi.post("/api/tenant", {"name": "red"})
    red = await new_client(tenant="red")
    pool = await red.post("/api/pool", {"name": "red-pool"})
    assert pool.status == 201
    assert pool.body["tenant_ref"].endswith(f"/api/tenant/{created.body['uuid']}#red")

    in_admin = await avi.get("/api/pool?name=red-pool")
    in_red = await red.get("/api/pool?name=red-pool")

    assert in_admin.body["count"] == 0
    assert in_red.body["count"] == 1


async def test_the_tenant_can_be_named_by_uuid(avi: Any, new_client: Any) -> None:
    tenant = await avi.post("/api/tenant", {"name": "blue"})
    client = await new_client(tenant=None)

    answer = await client.get("/api/tenant", headers={"X-Avi-Tenant-UUID": tenant.body["uuid"]})

    assert answer.status == 200


async def test_star_tenant_reads_across_all_tenants(avi: Any, new_client: Any) -> None:
    await avi.post("/api/tenant", {"name": "green"})
    green = await new_client(tenant="green")
    await green.post("/api/pool", {"name": "same-name"})
    await avi.post("/api/pool", {"name": "same-name"})
    everywhere = await new_client(tenant="*")

    answer = await everywhere.get("/api/pool?name=same-name")

    assert answer.body["count"] == 2


async def test_shared_admin_objects_are_visible_and_referable_from_another_tenant(
    avi: Any, new_client: Any
) -> None:
    await avi.post("/api/tenant", {"name": "yellow"})
    yellow = await new_client(tenant="yellow")

    cloud = await yellow.get("/api/cloud?name=Default-Cloud")
    pool = await yellow.post(
        "/api/pool", {"name": "y-pool", "health_monitor_refs": ["/api/healthmonitor/?name=System-TCP"]}
    )

    assert cloud.body["count"] == 1
    assert pool.status == 201 and pool.body["health_monitor_refs"][0].endswith("#System-TCP")


async def test_a_shared_admin_object_cannot_be_modified_from_another_tenant(
    avi: Any, new_client: Any
) -> None:
    await avi.post("/api/tenant", {"name": "purple"})
    purple = await new_client(tenant="purple")
    monitor = await purple.by_name("healthmonitor", "System-TCP")

    answer = await purple.patch(f"/api/healthmonitor/{monitor['uuid']}", {"replace": {"send_interval": 5}})

    assert answer.status == 403
