"""`GET /_emulator/route`: which pool the controller's data plane would send a request to.

The objects are the L7 shard of /tmp/l7-design.md (issue 4), POSTed to a strict emulator the way
akod writes them: a shared parent VS listening on 80 and 443 (TLS) with the shard policy set,
an insecure host switched to its pool, a TLS host served by an SNI child with its certificate and
a pool group, and that host's 80 -> 443 redirect on the parent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from akod.devenv.certs import self_signed
from akod.emulator.server import EmulatorServer
from tests.emulator.conftest import AviClient

CLUSTER = "S1-AZ1"
SHARD = f"{CLUSTER}--Shared-L7-0"
INSECURE = "hackazon.avi.iberia.local"
SECURE = "kuard.avi.iberia.local"
HACKAZON_POOL = f"{CLUSTER}--{INSECURE}_-default-hackazon"
KUARD_POOL = f"{CLUSTER}--default-{SECURE}_-kuard"


def ref(obj_type: str, name: str) -> str:
    return f"/api/{obj_type}/?name={name}"


def placement() -> dict[str, Any]:
    return {
        "tenant_ref": ref("tenant", "admin"),
        "cloud_ref": ref("cloud", "Default-Cloud"),
        "markers": [{"key": "clustername", "values": [CLUSTER]}],
    }


def owned() -> dict[str, Any]:
    return {**placement(), "created_by": f"ako-{CLUSTER}"}


def pool(name: str, servers: list[tuple[str, int | None]], *, default_port: int = 80) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    for ip, port in servers:
        entry: dict[str, Any] = {"ip": {"addr": ip, "type": "V4"}}
        if port is not None:
            entry["port"] = port
        entries.append(entry)
    return {"name": name, **owned(), "vrf_ref": ref("vrfcontext", "VRF_AZ1"),
            "servers": entries, "default_server_port": default_port}


def switching(name: str, index: int, host: str, path: str, pool_name: str, *,
              criteria: str = "BEGINS_WITH") -> dict[str, Any]:
    return {
        "name": name,
        "index": index,
        "enable": True,
        "match": {
            "host_hdr": {"match_criteria": "HDR_EQUALS", "value": [host]},
            "path": {"match_criteria": criteria, "match_case": "SENSITIVE", "match_str": [path]},
        },
        "switching_action": {"action": "HTTP_SWITCHING_SELECT_POOL", "pool_ref": ref("pool", pool_name)},
    }


def redirect(name: str, index: int, host: str) -> dict[str, Any]:
    return {
        "name": name,
        "index": index,
        "enable": True,
        "match": {
            "host_hdr": {"match_criteria": "HDR_EQUALS", "value": [host]},
            "vs_port": {"match_criteria": "IS_IN", "ports": [80]},
        },
        "redirect_action": {"protocol": "HTTPS", "port": 443, "status_code": "HTTP_REDIRECT_STATUS_CODE_302"},
    }


def certificate(host: str) -> tuple[str, str]:
    return self_signed(host)


async def create(avi: AviClient, obj_type: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await avi.post(f"/api/{obj_type}", body)
    assert answer.status == 201, f"{obj_type} {body.get('name')}: {answer.text}"
    return answer.body  # type: ignore[no-any-return]


async def build_shard(avi: AviClient, extra_rules: list[dict[str, Any]] | None = None) -> str:
    """The shard of the seed (hackazon insecure, kuard TLS); returns its VIP address."""
    vsvip = await create(avi, "vsvip", {
        "name": SHARD, **placement(), "vrf_context_ref": ref("vrfcontext", "VRF_AZ1"),
        "east_west_placement": False,
        "vip": [{"vip_id": "0", "auto_allocate_ip": True, "ipam_network_subnet": {
            "network_ref": ref("network", "AVI_FRONTEND_3025"),
            "subnet": {"ip_addr": {"addr": "10.10.25.0", "type": "V4"}, "mask": 24}}}],
        "dns_info": [{"fqdn": INSECURE}, {"fqdn": SECURE}],
    })
    await create(avi, "pool", pool(HACKAZON_POOL, [("10.244.1.5", 8080), ("10.244.2.7", None)]))
    await create(avi, "pool", pool(KUARD_POOL, [("10.244.1.9", 8080)]))
    await create(avi, "poolgroup", {"name": KUARD_POOL, **owned(),
                                    "members": [{"pool_ref": ref("pool", KUARD_POOL), "ratio": 100}]})
    cert_pem, key_pem = certificate(SECURE)
    await create(avi, "sslkeyandcertificate", {
        "name": f"{CLUSTER}--{SECURE}", "tenant_ref": ref("tenant", "admin"), "created_by": f"ako-{CLUSTER}",
        "type": "SSL_CERTIFICATE_TYPE_VIRTUALSERVICE", "certificate": {"certificate": cert_pem},
        "key": key_pem,
    })
    rules = [
        redirect(f"{SECURE}|3f2a9c01|0", 0, SECURE),
        switching(f"{INSECURE}|9b1c22d0|0", 1, INSECURE, "/", HACKAZON_POOL),
        *(extra_rules or []),
    ]
    await create(avi, "httppolicyset", {"name": SHARD, "tenant_ref": ref("tenant", "admin"),
                                        "created_by": f"ako-{CLUSTER}",
                                        "http_request_policy": {"rules": rules}})
    sni_policy = f"{CLUSTER}--default-{SECURE}"
    await create(avi, "httppolicyset", {
        "name": sni_policy, "tenant_ref": ref("tenant", "admin"), "created_by": f"ako-{CLUSTER}",
        "http_request_policy": {"rules": [{
            "name": f"{SECURE}/", "index": 0, "enable": True,
            "match": {"path": {"match_criteria": "BEGINS_WITH", "match_case": "SENSITIVE",
                               "match_str": ["/"]}},
            "switching_action": {"action": "HTTP_SWITCHING_SELECT_POOLGROUP",
                                 "pool_group_ref": ref("poolgroup", KUARD_POOL)},
        }]},
    })
    common = {**owned(), "se_group_ref": ref("serviceenginegroup", "S1-AZ1-SE-Group"),
              "vrf_context_ref": ref("vrfcontext", "VRF_AZ1"),
              "network_profile_ref": ref("networkprofile", "System-TCP-Proxy")}
    await create(avi, "virtualservice", {
        "name": SHARD, **common, "type": "VS_TYPE_VH_PARENT", "vsvip_ref": ref("vsvip", SHARD),
        "services": [{"port": 80}, {"port": 443, "enable_ssl": True}],
        "application_profile_ref": ref("applicationprofile", "System-HTTP"),
        "ssl_key_and_certificate_refs": [ref("sslkeyandcertificate", "System-Default-Cert")],
        "http_policies": [{"index": 11, "http_policy_set_ref": ref("httppolicyset", SHARD)}],
    })
    await create(avi, "virtualservice", {
        "name": f"{CLUSTER}--{SECURE}", **common, "type": "VS_TYPE_VH_CHILD",
        "vh_parent_vs_ref": ref("virtualservice", SHARD), "vh_domain_name": [SECURE],
        "application_profile_ref": ref("applicationprofile", "System-Secure-HTTP"),
        "ssl_key_and_certificate_refs": [ref("sslkeyandcertificate", f"{CLUSTER}--{SECURE}")],
        "http_policies": [{"index": 11, "http_policy_set_ref": ref("httppolicyset", sni_policy)}],
    })
    return str(vsvip["vip"][0]["ip_address"]["addr"])


@pytest.fixture
async def avi(strict_emulator: EmulatorServer) -> AsyncIterator[AviClient]:
    client = AviClient(strict_emulator.url)
    assert (await client.login()).status == 200
    yield client
    await client.close()


@pytest.fixture
async def side_door(strict_emulator: EmulatorServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=strict_emulator.url) as http:
        yield http


async def route(side_door: aiohttp.ClientSession, **params: Any) -> tuple[int, dict[str, Any]]:
    async with side_door.get("/_emulator/route", params={k: str(v) for k, v in params.items()}) as rsp:
        return rsp.status, await rsp.json()


# -- the seed: an insecure host, a TLS host and its redirect on one shared parent -----------------


async def test_an_insecure_host_goes_to_its_pool_and_members_on_the_shared_parent(
    avi: AviClient, side_door: aiohttp.ClientSession
) -> None:
    vip = await build_shard(avi)

    status, answer = await route(side_door, vip=vip, port=80, host=INSECURE, path="/index.php")

    assert status == 200, answer
    assert answer["served"] is True and answer["vs"] == SHARD and answer["tls"] is False
    assert (answer["policy_set"], answer["rule"]) == (SHARD, f"{INSECURE}|9b1c22d0|0")
    assert answer["pool"] == HACKAZON_POOL and answer["pool_group"] is None
    assert [(s["ip"], s["port"], s["enabled"]) for s in answer["servers"]] == [
        ("10.244.1.5", 8080, True), ("10.244.2.7", 80, True),  # no port: the pool's default_server_port
    ]
    assert answer["redirect"] is None and answer["certificate"] is None


async def test_a_tls_host_on_443_is_served_by_its_sni_child_with_its_certificate(
    avi: AviClient, side_door: aiohttp.ClientSession
) -> None:
    vip = await build_shard(avi)

    status, answer = await route(side_door, vip=vip, port=443, host=SECURE, path="/")

    assert status == 200, answer
    assert answer["vs"] == f"{CLUSTER}--{SECURE}" and answer["tls"] is True
    assert answer["certificate"] == f"{CLUSTER}--{SECURE}"
    assert answer["policy_set"] == f"{CLUSTER}--default-{SECURE}"
    assert answer["pool_group"] == KUARD_POOL and answer["pool"] == KUARD_POOL
    assert [(s["ip"], s["port"]) for s in answer["servers"]] == [("10.244.1.9", 8080)]


async def test_a_tls_host_on_80_is_redirected_to_443(
    avi: AviClient, side_door: aiohttp.ClientSession
) -> None:
    vip = await build_shard(avi)

    status, answer = await route(side_door, vip=vip, port=80, host=SECURE, path="/api")

    assert status == 200, answer
    assert answer["vs"] == SHARD and answer["rule"] == f"{SECURE}|3f2a9c01|0"
    assert answer["redirect"] == {"protocol": "HTTPS", "port": 443, "status_code": 302, "host": SECURE,
                                  "location": f"https://{SECURE}/api"}
    assert answer["pool"] is None and answer["servers"] == []


async def test_an_insecure_host_on_443_is_served_by_the_parent_with_the_default_certificate(
    avi: AviClient, side_door: aiohttp.ClientSession
) -> None:
    vip = await build_shard(avi)

    status, answer = await route(side_door, vip=vip, port=443, host=INSECURE, path="/")

    assert status == 200, answer
    assert answer["vs"] == SHARD and answer["certificate"] == "System-Default-Cert"
    assert answer["pool"] == HACKAZON_POOL


# -- rule order and match criteria ----------------------------------------------------------------


async def test_rules_run_in_index_order_so_the_longer_path_listed_later_still_wins(
    avi: AviClient, side_door: aiohttp.ClientSession
) -> None:
    for name in ("S1-AZ1--foo.com_foo-default-multipath", "S1-AZ1--foo.com_foo_bar-default-multipath"):
        await create(avi, "pool", pool(name, [("10.244.3.1", 80)]))
    vip = await build_shard(avi, extra_rules=[
        switching("foo.com|aa|1", 6, "foo.com", "/foo", "S1-AZ1--foo.com_foo-default-multipath"),
        switching("foo.com|aa|0", 5, "foo.com", "/foo/bar", "S1-AZ1--foo.com_foo_bar-default-multipath"),
    ])

    _, deeper = await route(side_door, vip=vip, port=80, host="foo.com", path="/foo/bar/baz")
    _, shallow = await route(side_door, vip=vip, port=80, host="foo.com", path="/foo/other")

    assert deeper["pool"] == "S1-AZ1--foo.com_foo_bar-default-multipath"
    assert shallow["pool"] == "S1-AZ1--foo.com_foo-default-multipath"


async def test_an_exact_path_rule_matches_only_that_path_and_the_prefix_rule_takes_the_rest(
    avi: AviClient, side_door: aiohttp.ClientSession
) -> None:
    for name in ("exact-pool", "prefix-pool"):
        await create(avi, "pool", pool(name, [("10.244.4.1", 80)]))
    vip = await build_shard(avi, extra_rules=[
        switching("bar.com|bb|0", 5, "bar.com", "/api", "exact-pool", criteria="EQUALS"),
        switching("bar.com|bb|1", 6, "bar.com", "/api", "prefix-pool"),
    ])

    _, exact = await route(side_door, vip=vip, port=80, host="bar.com", path="/api")
    _, below = await route(side_door, vip=vip, port=80, host="bar.com", path="/api/v1")
    status, case = await route(side_door, vip=vip, port=80, host="bar.com", path="/API")

    assert exact["pool"] == "exact-pool" and below["pool"] == "prefix-pool"
    assert status == 404 and case["served"] is False  # match_case SENSITIVE


async def test_the_host_header_matches_without_regard_to_case(
    avi: AviClient, side_door: aiohttp.ClientSession
) -> None:
    vip = await build_shard(avi)

    _, answer = await route(side_door, vip=vip, port=80, host=INSECURE.upper(), path="/")

    assert answer["pool"] == HACKAZON_POOL


async def test_a_disabled_rule_is_skipped(avi: AviClient, side_door: aiohttp.ClientSession) -> None:
    await create(avi, "pool", pool("off-pool", [("10.244.5.1", 80)]))
    await create(avi, "pool", pool("on-pool", [("10.244.5.2", 80)]))
    off = {**switching("baz.com|cc|0", 5, "baz.com", "/", "off-pool"), "enable": False}
    vip = await build_shard(avi, extra_rules=[off, switching("baz.com|cc|1", 6, "baz.com", "/", "on-pool")])

    _, answer = await route(side_door, vip=vip, port=80, host="baz.com", path="/")

    assert answer["rule"] == "baz.com|cc|1" and answer["pool"] == "on-pool"


async def test_a_pool_group_serves_its_members_of_the_best_priority(
    avi: AviClient, side_door: aiohttp.ClientSession
) -> None:
    for name, ip in (("blue", "10.244.6.1"), ("green", "10.244.6.2"), ("canary", "10.244.6.3")):
        await create(avi, "pool", pool(name, [(ip, 80)]))
    await create(avi, "poolgroup", {"name": "colours", **owned(), "members": [
        {"pool_ref": ref("pool", "blue"), "priority_label": "10"},
        {"pool_ref": ref("pool", "green"), "priority_label": "10"},
        {"pool_ref": ref("pool", "canary"), "priority_label": "5"},
    ]})
    rule = {
        "name": "grp.com|dd|0", "index": 5, "enable": True,
        "match": {"host_hdr": {"match_criteria": "HDR_EQUALS", "value": ["grp.com"]}},
        "switching_action": {"action": "HTTP_SWITCHING_SELECT_POOLGROUP",
                             "pool_group_ref": ref("poolgroup", "colours")},
    }
    vip = await build_shard(avi, extra_rules=[rule])

    _, answer = await route(side_door, vip=vip, port=80, host="grp.com", path="/")

    assert answer["pool_group"] == "colours" and answer["pools"] == ["blue", "green"]
    assert answer["pool"] is None  # two pools serve it
    assert [(s["pool"], s["ip"]) for s in answer["servers"]] == [
        ("blue", "10.244.6.1"), ("green", "10.244.6.2"),
    ]


# -- what nothing serves ------------------------------------------------------------------------


async def test_an_unknown_host_is_not_served(avi: AviClient, side_door: aiohttp.ClientSession) -> None:
    vip = await build_shard(avi)

    status, answer = await route(side_door, vip=vip, port=80, host="nobody.example.com", path="/")

    assert status == 404
    assert answer["served"] is False and answer["reason"] == "no rule matched" and answer["vs"] == SHARD


async def test_an_unknown_vip_or_port_is_not_served(avi: AviClient, side_door: aiohttp.ClientSession) -> None:
    vip = await build_shard(avi)

    other_vip = await route(side_door, vip="10.10.25.251", port=80, host=INSECURE, path="/")
    other_port = await route(side_door, vip=vip, port=8080, host=INSECURE, path="/")

    assert other_vip[0] == 404 and other_vip[1]["served"] is False
    assert other_vip[1]["reason"] == "no virtual service listens on 10.10.25.251:80"
    assert other_port[0] == 404 and other_port[1]["reason"] == f"no virtual service listens on {vip}:8080"


async def test_a_malformed_query_is_400(side_door: aiohttp.ClientSession) -> None:
    status, answer = await route(side_door, vip="not-an-ip", port=80, host="a", path="/")
    bad_port, _ = await route(side_door, vip="10.10.25.10", port="http", host="a", path="/")

    assert status == 400 and "vip" in answer["error"]
    assert bad_port == 400


# -- routing follows incremental rule edits ----------------------------------------------------


async def test_patching_rules_in_and_out_changes_what_is_served(
    avi: AviClient, side_door: aiohttp.ClientSession
) -> None:
    vip = await build_shard(avi)
    await create(avi, "pool", pool("new-pool", [("10.244.7.1", 80)]))
    shard = await avi.by_name("httppolicyset", SHARD)

    added = await avi.patch(f"/api/httppolicyset/{shard['uuid']}", {"add": {"http_request_policy": {
        "rules": [switching("new.com|ee|0", 7, "new.com", "/", "new-pool")]}}})
    removed = await avi.patch(f"/api/httppolicyset/{shard['uuid']}", {"delete": {"http_request_policy": {
        "rules": [{"name": f"{SECURE}|3f2a9c01|0"}]}}})

    assert added.status == 200 and removed.status == 200, (added.text, removed.text)
    _, new = await route(side_door, vip=vip, port=80, host="new.com", path="/")
    status, gone = await route(side_door, vip=vip, port=80, host=SECURE, path="/")
    assert new["pool"] == "new-pool"
    assert status == 404 and gone["reason"] == "no rule matched"
