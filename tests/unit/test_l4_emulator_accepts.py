"""The controller accepts what the L4 translation produces: real HTTP against the strict emulator.

Strict mode answers 400 for any field the object model does not have, so a 201 for every object,
written in RANK order with name refs, proves the field names, nesting and refs of the bodies.
The VsVip must then hold an address from AVI_FRONTEND_3025 (10.10.25.0/24).
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from akod.emulator.schema import load_schema
from akod.emulator.server import EmulatorServer
from akod.model.l4 import L4Result
from akod.model.objects import AviObject
from tests.unit.test_l4_seed import (
    ctx,
    hackazon,
    hackazon_endpoints,
    kuard,
    kuard_endpoints,
    port,
    service,
    translate,
)

HEADERS = {
    "Authorization": "Basic " + base64.b64encode(b"admin:admin").decode(),
    "X-Avi-Version": "20.1.2",
    "X-Avi-Tenant": "admin",
}
SHARED = "ako.vmware.com/enable-shared-vip"
VIP_SUBNET = ipaddress.IPv4Network("10.10.25.0/24")


def single_port_tcp() -> L4Result:
    return translate([hackazon()], hackazon_endpoints())


def multi_port() -> L4Result:
    svc = service("kuard", ports=[port(8080, name="http"), port(8443, name="https"), port(9090, name="metrics")])
    return translate([svc], kuard_endpoints())


def mixed_shared_vip() -> L4Result:
    return translate([service("dns-tcp", ports=[port(53, protocol="TCP")], annotations={SHARED: "dns"}),
                      service("dns-udp", ports=[port(53, protocol="UDP")], annotations={SHARED: "dns"})])


def preferred_ip() -> L4Result:
    return translate([service("hackazon", annotations={"ako.vmware.com/load-balancer-ip": "10.10.25.77"})],
                     hackazon_endpoints())


def nodeport_mode() -> L4Result:
    context = ctx(service_type="NodePort", node_networks=(("AVI_FRONTEND_3026", ("10.10.26.0/24",)),))
    return translate([kuard()], kuard_endpoints(), context=context)


def dual_stack_request() -> L4Result:
    context = ctx(vip_v6cidr=ipaddress.IPv6Network("fd00:25::/64"))
    return translate([service("hackazon", families=["IPv4", "IPv6"])], hackazon_endpoints(), context=context)


def sent(obj: AviObject) -> dict[str, Any]:
    """`payload()`: every field of it, checksum included, must exist on the controller."""
    return obj.payload()


async def post_all(result: L4Result, url: str) -> dict[str, Any]:
    """POST every object in RANK order, asserting 201; return the VsVip as the controller holds it."""
    async with aiohttp.ClientSession(headers=HEADERS) as http:
        for obj in sorted(result.objects, key=lambda o: o.rank):
            async with http.post(f"{url}/api/{obj.obj_type}", json=sent(obj)) as answer:
                text = await answer.text()
                assert answer.status == 201, f"{obj.obj_type} {obj.name}: {answer.status} {text}"
        async with http.get(f"{url}/api/vsvip", params={"name": result.vs_name}) as answer:
            assert answer.status == 200
            (vsvip,) = (await answer.json())["results"]
    return dict(vsvip)


@pytest.mark.parametrize("make", [single_port_tcp, multi_port, mixed_shared_vip, preferred_ip, nodeport_mode,
                                  dual_stack_request])
async def test_strict_controller_accepts_every_object_and_allocates_a_vip(make: Callable[[], L4Result]) -> None:
    result = make()
    assert result.problems == () and result.objects
    async with EmulatorServer(fixtures="seed", strict=True) as emu:
        vsvip = await post_all(result, emu.url)
    address = ipaddress.ip_address(vsvip["vip"][0]["ip_address"]["addr"])
    assert address in VIP_SUBNET


async def test_preferred_ip_is_the_address_the_vsvip_gets() -> None:
    async with EmulatorServer(fixtures="seed", strict=True) as emu:
        vsvip = await post_all(preferred_ip(), emu.url)
    assert vsvip["vip"][0]["ip_address"] == {"addr": "10.10.25.77", "type": "V4"}


async def test_strict_emulator_refuses_a_field_the_model_lacks() -> None:
    """Guards the tests above: a wrong field name must fail them."""
    pool = next(o for o in single_port_tcp().objects if o.obj_type == "pool")
    async with EmulatorServer(fixtures="seed", strict=True) as emu, aiohttp.ClientSession(headers=HEADERS) as http:
        async with http.post(f"{emu.url}/api/pool", json={**sent(pool), "server_port": 80}) as answer:
            assert answer.status == 400
            assert "server_port" in await answer.text()


async def test_virtual_service_lands_in_the_configured_se_group_and_vrf() -> None:
    result = single_port_tcp()
    async with EmulatorServer(fixtures="seed", strict=True) as emu:
        await post_all(result, emu.url)
        async with aiohttp.ClientSession(headers=HEADERS) as http:
            params = {"name": result.vs_name, "include_name": "true"}
            async with http.get(f"{emu.url}/api/virtualservice", params=params) as answer:
                vs = (await answer.json())["results"][0]
    assert vs["se_group_ref"].endswith("#S1-AZ1-SE-Group")
    assert vs["vrf_context_ref"].endswith("#VRF_AZ1")
    assert vs["l4_policies"][0]["l4_policy_set_ref"].endswith(f"#{result.vs_name}")


def test_every_payload_field_exists_on_the_controller() -> None:
    for obj in mixed_shared_vip().objects:
        definition = load_schema().definition_of(obj.obj_type)
        assert definition is not None
        assert set(obj.payload()) <= set(definition.fields), obj.obj_type
