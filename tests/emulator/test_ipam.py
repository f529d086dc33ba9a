"""VIP allocation from a network's static ranges (the controller's internal IPAM)."""

from __future__ import annotations

from typing import Any

from akod.emulator.server import EmulatorServer

SUBNET_25 = {"ip_addr": {"addr": "10.10.25.0", "type": "V4"}, "mask": 24}


def vsvip(
    name: str,
    *,
    network: str = "AVI_FRONTEND_3025",
    ip: str | None = None,
    subnet: dict[str, Any] | None = SUBNET_25,
) -> dict[str, Any]:
    vip: dict[str, Any] = {
        "vip_id": "0",
        "auto_allocate_ip": True,
        "ipam_network_subnet": {"network_ref": f"/api/network/?name={network}"},
    }
    if subnet is not None:
        vip["ipam_network_subnet"]["subnet"] = subnet
    if ip is not None:
        vip["ip_address"] = {"addr": ip, "type": "V4"}
    return {"name": name, "vip": [vip], "vrf_context_ref": "/api/vrfcontext/?name=VRF_AZ1"}


async def test_auto_allocation_takes_the_first_free_address_of_the_vip_range(avi: Any) -> None:
    first = await avi.post("/api/vsvip", vsvip("a"))
    second = await avi.post("/api/vsvip", vsvip("b"))

    assert first.status == 201 and second.status == 201
    assert first.body["vip"][0]["ip_address"] == {"addr": "10.10.25.10", "type": "V4"}
    assert second.body["vip"][0]["ip_address"]["addr"] == "10.10.25.11"


async def test_a_requested_address_inside_the_subnet_is_honoured(avi: Any) -> None:
    answer = await avi.post("/api/vsvip", vsvip("wanted", ip="10.10.25.100"))

    assert answer.status == 201
    assert answer.body["vip"][0]["ip_address"]["addr"] == "10.10.25.100"


async def test_a_requested_address_already_taken_is_400(avi: Any) -> None:
    await avi.post("/api/vsvip", vsvip("holder", ip="10.10.25.100"))

    answer = await avi.post("/api/vsvip", vsvip("thief", ip="10.10.25.100"))

    assert answer.status == 400
    assert "already in use" in answer.body["error"]


async def test_a_requested_address_outside_the_subnet_is_400(avi: Any) -> None:
    answer = await avi.post("/api/vsvip", vsvip("outside", ip="10.10.26.100"))

    assert answer.status == 400
    assert "not in subnet" in answer.body["error"]


async def test_an_exhausted_network_is_400_no_available_free_ips(avi: Any) -> None:
    await avi.post(
        "/api/network",
        {
            "name": "tiny",
            "configured_subnets": [
                {
                    "prefix": {"ip_addr": {"addr": "192.168.9.0", "type": "V4"}, "mask": 29},
                    "static_ip_ranges": [
                        {
                            "type": "STATIC_IPS_FOR_VIP_AND_SE",
                            "range": {
                                "begin": {"addr": "192.168.9.2", "type": "V4"},
                                "end": {"addr": "192.168.9.3", "type": "V4"},
                            },
                        }
                    ],
                }
            ],
        },
    )
    for name in ("t1", "t2"):
        assert (await avi.post("/api/vsvip", vsvip(name, network="tiny", subnet=None))).status == 201

    answer = await avi.post("/api/vsvip", vsvip("t3", network="tiny", subnet=None))

    assert answer.status == 400
    assert answer.body["error"] == "No available free IPs"


async def test_deleting_the_vsvip_frees_its_address(avi: Any) -> None:
    first = await avi.post("/api/vsvip", vsvip("a"))
    await avi.delete(f"/api/vsvip/{first.body['uuid']}")

    again = await avi.post("/api/vsvip", vsvip("b", ip="10.10.25.10"))

    assert again.status == 201


async def test_an_update_keeps_the_allocated_address(avi: Any, emulator: EmulatorServer) -> None:
    created = await avi.post("/api/vsvip", vsvip("keep"))
    address = created.body["vip"][0]["ip_address"]["addr"]

    replaced = await avi.put(
        f"/api/vsvip/{created.body['uuid']}", {**vsvip("keep"), "description": "changed"}
    )

    assert replaced.status == 200
    assert replaced.body["vip"][0]["ip_address"]["addr"] == address
    network = emulator.state.find("network", "AVI_FRONTEND_3025")
    assert network is not None and emulator.state.ipam.allocated(network.uuid) == [address]


async def test_a_vsvip_in_a_network_takes_the_networks_vrf(avi: Any) -> None:
    body = vsvip("vrf", network="AVI_FRONTEND_3026", subnet=None)
    del body["vrf_context_ref"]

    answer = await avi.post("/api/vsvip", body)

    assert answer.body["vrf_context_ref"].endswith("#VRF_AZ2")
    assert answer.body["vip"][0]["ip_address"]["addr"] == "10.10.26.10"


async def test_a_failed_write_allocates_nothing(avi: Any, emulator: EmulatorServer) -> None:
    body = vsvip("two-vips")
    body["vip"].append(
        {
            "vip_id": "1",
            "auto_allocate_ip": True,
            "ip_address": {"addr": "10.99.0.1", "type": "V4"},
            "ipam_network_subnet": {"network_ref": "/api/network/?name=AVI_FRONTEND_3025"},
        }
    )

    answer = await avi.post("/api/vsvip", body)

    assert answer.status == 400
    network = emulator.state.find("network", "AVI_FRONTEND_3025")
    assert network is not None and emulator.state.ipam.allocated(network.uuid) == []
