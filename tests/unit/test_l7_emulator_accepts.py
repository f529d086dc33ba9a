"""The controller accepts what the L7 translation produces, and routes it as the Ingresses say.

Strict mode answers 400 for any field the object model does not have, so a 201 for every object,
written in RANK order with name refs, proves the field names, nesting and refs of the bodies:
pool, pool group, HTTP policy sets, certificate, VsVip, shared parent and SNI child. The shard
policy set's rules come without `index` (the sync layer places them); here they get 0.. as a full
write would. Then `/_emulator/route` shows that every route of the Ingresses is reachable where
it should be, plain HTTP to a TLS host is redirected, and nothing else is served.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from akod.emulator.schema import load_schema
from akod.emulator.server import EmulatorServer
from akod.model.l7 import L7Result
from akod.model.objects import AviObject, stored_checksum
from tests.unit.test_l4_seed import node
from tests.unit.test_l7_seed import (
    SEED,
    backend,
    ingress,
    path,
    pods,
    rule,
    svc_map,
    tls,
    tls_secret,
    translate,
)


def headers(version: str = "20.1.2") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode(), "X-Avi-Version": version,
            "X-Avi-Tenant": "admin"}


SERVICES = svc_map(backend("web", 80), backend("api", 8080), backend("secure", 8443))
ENDPOINTS = {**pods("web", 80, "10.34.1.5"), **pods("api", 8080, "10.34.1.6"), **pods("secure", 8443, "10.34.2.7")}


def mixed_shard() -> L7Result:
    """foo.com under TLS (two paths), noo.com in plain HTTP (a prefix, a longer prefix, an exact path)."""
    secure = ingress("secure", rule("foo.com", path("/", "secure", 8443), path("/api", "api", 8080)),
                     tls_=[tls("foo-tls", "foo.com")])
    plain = ingress("plain", rule("noo.com", path("/", "web", 80), path("/api", "api", 8080),
                                  path("/api/v1", "api", 8080, path_type="Exact")))
    return translate([secure, plain], services=SERVICES, endpoints=ENDPOINTS, secrets=[tls_secret("foo-tls")],
                     ctx=SEED, key="l7:S1-AZ1--Shared-L7-0")


def empty_shell() -> L7Result:
    return translate([], ctx=SEED, key="l7:S1-AZ1--Shared-L7-3", keep_shell=True)


def dedicated_tls() -> L7Result:
    ing = ingress("secure", rule("foo.com", path("/", "secure", 8443)), tls_=[tls("foo-tls", "foo.com")])
    return translate([ing], services=SERVICES, endpoints=ENDPOINTS, secrets=[tls_secret("foo-tls")],
                     ctx=replace(SEED, shards=0))


def dedicated_plain() -> L7Result:
    ing = ingress("plain", rule("noo.com", path("/", "web", 80)))
    return translate([ing], services=SERVICES, endpoints=ENDPOINTS, ctx=replace(SEED, shards=0))


def nodeport_mode() -> L7Result:
    ctx = replace(SEED, l4=replace(SEED.l4, service_type="NodePort",
                                   node_networks=(("AVI_FRONTEND_3026", ("10.10.26.0/24",)),)))
    ing = ingress("plain", rule("noo.com", path("/", "np", 80)))
    return translate([ing], services=svc_map(backend("np", 80, type_="NodePort", node_port=30080)), ctx=ctx,
                     nodes=[node("w1", "10.10.30.12")])


def sent(obj: AviObject) -> dict[str, Any]:
    """`payload()` as a full write sends it: shard rules indexed 0.. in the model's order."""
    payload = obj.payload()
    if obj.obj_type == "httppolicyset":
        rules = payload["http_request_policy"]["rules"]
        payload["http_request_policy"] = {"rules": [{**r, "index": r.get("index", i)} for i, r in enumerate(rules)]}
    return payload


async def post_all(result: L7Result, url: str, version: str = "20.1.2") -> None:
    async with aiohttp.ClientSession(headers=headers(version)) as http:
        for obj in sorted(result.objects, key=lambda o: o.rank):
            async with http.post(f"{url}/api/{obj.obj_type}", json=sent(obj)) as answer:
                text = await answer.text()
                assert answer.status == 201, f"{obj.obj_type} {obj.name}: {answer.status} {text}"


async def get_one(url: str, obj_type: str, name: str, version: str = "20.1.2") -> dict[str, Any]:
    async with aiohttp.ClientSession(headers=headers(version)) as http:
        async with http.get(f"{url}/api/{obj_type}", params={"name": name}) as answer:
            assert answer.status == 200
            (found,) = (await answer.json())["results"]
    return dict(found)


@pytest.mark.parametrize("make", [mixed_shard, empty_shell, dedicated_tls, dedicated_plain, nodeport_mode])
async def test_strict_controller_accepts_every_l7_object(make: Callable[[], L7Result]) -> None:
    result = make()
    assert result.problems == () and result.objects
    async with EmulatorServer(fixtures="seed", strict=True) as emu:
        await post_all(result, emu.url)
        vsvip = await get_one(emu.url, "vsvip", result.vs_name)
    assert vsvip["vip"][0]["ip_address"]["addr"].startswith("10.10.25.")


async def route(http: aiohttp.ClientSession, url: str, **query: Any) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{url}/_emulator/route", params={k: str(v) for k, v in query.items()}) as answer:
        return answer.status, dict(await answer.json())


async def test_every_route_of_the_shard_is_reachable_and_nothing_else() -> None:
    result = mixed_shard()
    async with EmulatorServer(fixtures="seed", strict=True) as emu, aiohttp.ClientSession() as http:
        await post_all(result, emu.url)
        vip = (await get_one(emu.url, "vsvip", result.vs_name))["vip"][0]["ip_address"]["addr"]

        async def pool_of(host: str, at: str, port: int = 80) -> str | None:
            status, answer = await route(http, emu.url, vip=vip, port=port, host=host, path=at)
            return answer["pool"] if status == 200 else None

        assert await pool_of("noo.com", "/") == "S1-AZ1--noo.com_-default-plain"
        assert await pool_of("noo.com", "/index.html") == "S1-AZ1--noo.com_-default-plain"
        assert await pool_of("noo.com", "/api/users") == "S1-AZ1--noo.com_api-default-plain"
        assert await pool_of("noo.com", "/api/v1") == "S1-AZ1--noo.com_api_v1-default-plain"
        assert await pool_of("noo.com", "/api/v1/x") == "S1-AZ1--noo.com_api-default-plain"
        assert await pool_of("foo.com", "/api/x", 443) == "S1-AZ1--default-foo.com_api-secure"
        assert await pool_of("foo.com", "/", 443) == "S1-AZ1--default-foo.com_-secure"
        assert await pool_of("bar.com", "/") is None

        status, answer = await route(http, emu.url, vip=vip, port=80, host="foo.com", path="/api")
        assert status == 200 and answer["redirect"]["protocol"] == "HTTPS" and answer["redirect"]["port"] == 443
        status, answer = await route(http, emu.url, vip=vip, port=443, host="foo.com", path="/")
        assert answer["vs"] == "S1-AZ1--foo.com"
        assert answer["certificate"] == "S1-AZ1--foo.com"
        assert [(s["ip"], s["port"]) for s in answer["servers"]] == [("10.34.2.7", 8443)]


async def test_certificate_checksum_reads_back_from_the_controller_at_any_api_version() -> None:
    result = mixed_shard()
    (cert,) = [o for o in result.objects if o.obj_type == "sslkeyandcertificate"]
    async with EmulatorServer(fixtures="seed", strict=True, version="22.1.3") as emu:
        await post_all(result, emu.url, version="22.1.3")
        modern = await get_one(emu.url, "sslkeyandcertificate", cert.name, version="22.1.3")
        old = await get_one(emu.url, "sslkeyandcertificate", cert.name, version="20.1.2")
    assert stored_checksum("sslkeyandcertificate", modern) == cert.checksum
    assert "PRIVATE KEY" not in str(modern.get("key", ""))  # the controller never gives the key back
    assert stored_checksum("sslkeyandcertificate", old) == cert.checksum


def test_every_payload_field_exists_on_the_controller() -> None:
    for result in (mixed_shard(), dedicated_tls()):
        for obj in result.objects:
            definition = load_schema().definition_of(obj.obj_type)
            assert definition is not None
            assert set(obj.payload()) <= set(definition.fields), obj.obj_type
