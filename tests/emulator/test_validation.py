"""Request bodies are checked against the controller's Swagger specs (types, enums, required,
nesting), unknown fields dropped like a controller does, or refused in strict mode."""

from __future__ import annotations

from typing import Any

import pytest

from akod.emulator.server import EmulatorServer


async def test_unknown_fields_are_dropped_by_default(avi: Any) -> None:
    answer = await avi.post(
        "/api/virtualservice",
        {
            "name": "vs",
            "application_profile_name": "System-Secure-HTTP",
            "services": [{"port": 80, "bogus": 1}],
        },
    )

    assert answer.status == 201
    assert "application_profile_name" not in answer.body
    assert answer.body["application_profile_ref"].endswith("#System-HTTP")  # not an alias
    assert "bogus" not in answer.body["services"][0]


async def test_strict_mode_refuses_an_unknown_nested_field_naming_its_path(
    strict_emulator: EmulatorServer, new_client: Any
) -> None:
    client = await new_client(url=strict_emulator.url)
    vrf = await client.by_name("vrfcontext", "VRF_AZ1")
    body = {
        **vrf,
        "static_routes": [
            {
                "route_id": "1",
                "foo": 1,
                "prefix": {"ip_addr": {"addr": "10.1.0.0", "type": "V4"}, "mask": 16},
                "next_hop": {"addr": "10.10.25.5", "type": "V4"},
            }
        ],
    }

    answer = await client.put(f"/api/vrfcontext/{vrf['uuid']}", body)

    assert answer.status == 400
    assert answer.body == {"error": "Unknown field 'static_routes[0].foo' in VrfContext"}


async def test_strict_mode_accepts_what_it_returned(strict_emulator: EmulatorServer, new_client: Any) -> None:
    client = await new_client(url=strict_emulator.url)
    created = await client.post(
        "/api/pool", {"name": "strict-ok", "servers": [{"ip": {"addr": "1.2.3.4", "type": "V4"}}]}
    )
    read = await client.get(f"/api/pool/{created.body['uuid']}")

    answer = await client.put(f"/api/pool/{created.body['uuid']}", read.body)

    assert answer.status == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"name": "p", "default_server_port": "eighty"},
            "Invalid value for field 'default_server_port' in Pool: expected integer",
        ),
        (
            {"name": "p", "lb_algorithm": "LB_ALGORITHM_SOMETIMES"},
            "Invalid value 'LB_ALGORITHM_SOMETIMES' for field 'lb_algorithm' in Pool",
        ),
        ({"name": "p", "servers": [{"port": 80}]}, "Missing required field 'servers[0].ip' in Pool"),
        ({"name": "p", "servers": {"ip": "x"}}, "Invalid value for field 'servers' in Pool: expected array"),
        (
            {"name": "p", "servers": [{"ip": {"addr": "1.1.1.1", "type": "V5"}}]},
            "Invalid value 'V5' for field 'servers[0].ip.type' in Pool",
        ),
        ({"description": "no name"}, "Missing required field 'name' in Pool"),
        (["not", "an", "object"], "Invalid body for Pool"),
    ],
)
async def test_invalid_bodies_are_400_naming_the_field(avi: Any, body: Any, message: str) -> None:
    answer = await avi.post("/api/pool", body)

    assert answer.status == 400
    assert answer.body["error"].startswith(message)


async def test_strings_for_booleans_and_numbers_are_accepted_as_the_controller_does(avi: Any) -> None:
    answer = await avi.post("/api/tenant", {"name": "lenient", "local": "true"})
    pool = await avi.post("/api/pool", {"name": "lenient", "default_server_port": "8080"})

    assert answer.status == 201 and answer.body["local"] is True
    assert pool.body["default_server_port"] == 8080


async def test_an_invalid_json_body_is_400(avi: Any) -> None:
    answer = await avi.call(
        "POST", "/api/pool", data=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert answer.status == 400
