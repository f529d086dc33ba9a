"""Issue 4, end to end: Ingresses become host/path routing on sharded shared virtual services.

Real kube-apiserver, the emulator in strict mode. Every test runs twice: on the apiserver's
current API (Ingress and IngressClass in networking.k8s.io/v1) and on Kubernetes 1.18's (both only
in networking.k8s.io/v1beta1, the seed's clusters), with the Ingresses written in that version.
Reachability is proven with the emulator's routing query, which evaluates the configured objects
the way the controller's data plane would.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from tests.conftest import on_every_api_surface
from tests.e2e.conftest import Controller, Nodes
from tests.e2e.harness import eventually, kill9_while_writing, writes_of_a_restart
from tests.e2e.ingresses import Ingresses, make_cert, path, rule

pytestmark = on_every_api_surface

VIP_NET = ipaddress.ip_network("10.10.25.0/24")
C = "S1-AZ1"
HACK = "hackazon.avi.iberia.local"
KUARD = "kuard.avi.iberia.local"
LATER = "later3.avi.iberia.local"


def fnv1a_32(text: str) -> int:
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def shard(host: str, shards: int = 8) -> str:
    return f"{C}--Shared-L7-{fnv1a_32(host) & (shards - 1)}"


async def vip_of(controller: Controller, vs_name: str) -> str:
    async def probe() -> str | bool:
        vsvip = await controller.maybe("vsvip", vs_name)
        addrs = [v["ip_address"]["addr"] for v in (vsvip or {}).get("vip") or [] if v.get("ip_address")]
        return addrs[0] if addrs else False

    return await eventually(probe, timeout=30, what=f"the VIP of {vs_name}")


async def routed(controller: Controller, *, vip: str, port: int, host: str, path: str = "/",
                 check: Any = None, timeout: float = 30) -> dict[str, Any]:
    """The routing answer once `check(answer)` holds (default: served)."""
    async def probe() -> dict[str, Any] | bool:
        code, answer = await controller.route(vip=vip, port=port, host=host, path=path)
        ok = check(code, answer) if check else code == 200
        return answer if ok else False

    return await eventually(probe, timeout=timeout, what=f"routing of {host}{path} on {vip}:{port}")


def not_served(code: int, answer: Any) -> bool:
    return code == 404


def servers(answer: dict[str, Any]) -> list[tuple[str, int]]:
    return sorted((s["ip"], s["port"]) for s in answer.get("servers") or [])


async def seed_apps(services, nodes: Nodes) -> None:
    await nodes.seed()
    await services.create("default", "hackazon", ports=[(80, "TCP")], endpoints=["10.34.1.10"], svc_type="ClusterIP")
    await services.create("default", "kuard", ports=[(8080, "TCP")], endpoints=["10.34.1.11", "10.34.2.12"],
                          svc_type="ClusterIP")


async def seed_ingresses(services, nodes: Nodes, ingresses: Ingresses) -> None:
    """The seed's apps behind two Ingresses: hackazon over HTTP, kuard over TLS (Secret kuard-tls)."""
    await seed_apps(services, nodes)
    cert, key = make_cert(KUARD)
    await ingresses.secret("default", "kuard-tls", cert=cert, key=key)
    await ingresses.create("default", "hackazon", rules=[rule(HACK, path("/", "hackazon", 80))])
    await ingresses.create("default", "kuard", rules=[rule(KUARD, path("/", "kuard", 8080))],
                           tls=[([KUARD], "kuard-tls")])


async def test_seed_ingresses_route_hackazon_plain_and_kuard_through_its_sni_child(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    await seed_ingresses(services, nodes, ingresses)
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    hack_vip = await vip_of(controller, shard(HACK))
    kuard_vip = await vip_of(controller, shard(KUARD))
    assert ipaddress.ip_address(hack_vip) in VIP_NET and ipaddress.ip_address(kuard_vip) in VIP_NET

    answer = await routed(controller, vip=hack_vip, port=80, host=HACK, path="/index.php")
    assert answer["vs"] == shard(HACK)
    assert answer["pool"] == f"{C}--{HACK}_-default-hackazon"
    assert servers(answer) == [("10.34.1.10", 80)]

    answer = await routed(controller, vip=kuard_vip, port=443, host=KUARD, path="/")
    assert answer["vs"] == f"{C}--{KUARD}"
    assert answer["certificate"] == f"{C}--{KUARD}"
    assert answer["pool"] == f"{C}--default-{KUARD}_-kuard"
    assert servers(answer) == [("10.34.1.11", 8080), ("10.34.2.12", 8080)]

    answer = await routed(controller, vip=kuard_vip, port=80, host=KUARD, path="/")
    assert answer["redirect"]["port"] == 443 and answer["redirect"]["protocol"] == "HTTPS"
    assert answer["pool"] is None

    code, _ = await controller.route(vip=hack_vip, port=80, host="nobody.avi.iberia.local", path="/")
    assert code == 404

    async def statuses() -> bool:
        return (await ingresses.status("default", "hackazon") == [{"hostname": HACK, "ip": hack_vip}]
                and await ingresses.status("default", "kuard") == [{"hostname": KUARD, "ip": kuard_vip}])

    await eventually(statuses, what="both Ingress statuses")
    fqdn_map = json.loads((await ingresses.annotations("default", "kuard"))["ako.vmware.com/host-fqdn-vs-uuid-map"])
    child = await controller.one("virtualservice", f"{C}--{KUARD}")
    assert fqdn_map == {KUARD: child["uuid"]}
    code, objects = await akod.get("/objects?kind=Ingress&namespace=default&name=kuard")
    assert code == 200, objects
    (entry,) = objects["objects"]
    assert entry["keys"] == [f"l7:{shard(KUARD)}"] and entry["hosts"] == [{"host": KUARD, "vip": kuard_vip}]
    made = {(o["type"], o["name"]): o["state"] for o in entry["avi_objects"]}
    assert made[("virtualservice", f"{C}--{KUARD}")] == "applied"
    assert made[("sslkeyandcertificate", f"{C}--{KUARD}")] == "applied"
    # The key never leaves the process: not in the state database, not in the status endpoint.
    assert "PRIVATE KEY" not in akod.state_db_dump()
    assert "PRIVATE KEY" not in json.dumps(await akod.status())
    assert "PRIVATE KEY" not in akod.log()
    assert akod.stop() == 0


async def test_names_multipath_longest_first_and_sharding_like_ako(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    await seed_apps(services, nodes)
    cert, key = make_cert("foo.com")
    await ingresses.secret("default", "foo-tls", cert=cert, key=key)
    await ingresses.create("default", "multipath", rules=[
        rule("noo.com", path("/foo", "hackazon", 80), path("/foo/bar", "kuard", 8080)),
        rule("foo.com", path("/foo/bar", "kuard", 8080))], tls=[(["foo.com"], "foo-tls")])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    assert shard("foo.com") == shard("noo.com") == f"{C}--Shared-L7-0"
    vip = await vip_of(controller, f"{C}--Shared-L7-0")
    longest = await routed(controller, vip=vip, port=80, host="noo.com", path="/foo/bar/baz")
    assert longest["pool"] == f"{C}--noo.com_foo_bar-default-multipath"
    shorter = await routed(controller, vip=vip, port=80, host="noo.com", path="/foo/x")
    assert shorter["pool"] == f"{C}--noo.com_foo-default-multipath"
    code, _ = await controller.route(vip=vip, port=80, host="noo.com", path="/other")
    assert code == 404
    sni = await routed(controller, vip=vip, port=443, host="foo.com", path="/foo/bar")
    assert sni["vs"] == f"{C}--foo.com"
    assert sni["pool"] == f"{C}--default-foo.com_foo_bar-multipath"
    assert await controller.maybe("poolgroup", f"{C}--default-foo.com_foo_bar-multipath") is not None
    assert await controller.maybe("httppolicyset", f"{C}--default-foo.com") is not None
    assert await controller.maybe("sslkeyandcertificate", f"{C}--foo.com") is not None
    vsvip = await controller.one("vsvip", f"{C}--Shared-L7-0")
    assert {"foo.com", "noo.com"} <= {d["fqdn"] for d in vsvip.get("dns_info") or []}
    assert akod.stop() == 0


async def test_secret_missing_then_created_then_rotated_then_deleted(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    await seed_apps(services, nodes)
    await ingresses.create("default", "kuard", rules=[rule(KUARD, path("/", "kuard", 8080))],
                           tls=[([KUARD], "kuard-tls")])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    # A TLS host without its Secret is not served at all (no SNI child, no redirect, no status).
    assert await controller.maybe("virtualservice", f"{C}--{KUARD}") is None
    assert await controller.names("pool", contains=KUARD) == []
    assert await ingresses.status("default", "kuard") == []
    found = [e for e in (await akod.status())["errors"] if e["name"] == "kuard"]
    assert found and "kuard-tls" in found[0]["message"], found

    cert, key = make_cert(KUARD)
    await ingresses.secret("default", "kuard-tls", cert=cert, key=key)
    vip = await vip_of(controller, shard(KUARD))
    answer = await routed(controller, vip=vip, port=443, host=KUARD)
    assert answer["certificate"] == f"{C}--{KUARD}"
    await akod.wait_in_sync()

    # Rotation: exactly one write, the certificate.
    before = len(await controller.writes())
    cert2, key2 = make_cert(KUARD, days=60)
    await ingresses.secret("default", "kuard-tls", cert=cert2, key=key2)

    async def rotated() -> bool:
        obj = await controller.one("sslkeyandcertificate", f"{C}--{KUARD}")
        return obj["certificate"]["certificate"].strip() == cert2.strip()

    await eventually(rotated, what="the rotated certificate on the controller")
    await akod.wait_in_sync()
    new = (await controller.writes())[before:]
    assert [(w["method"], w["path"].split("/")[2]) for w in new] == [("PUT", "sslkeyandcertificate")], new

    await ingresses.delete_secret("default", "kuard-tls")

    async def child_gone() -> bool:
        return await controller.maybe("virtualservice", f"{C}--{KUARD}") is None

    await eventually(child_gone, what="the SNI child removed with its Secret")
    await routed(controller, vip=vip, port=443, host=KUARD, check=not_served)
    assert akod.stop() == 0


async def test_sni_policy_follows_path_changes_and_delete_keeps_the_shared_vip(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    await seed_apps(services, nodes)
    cert, key = make_cert("foo.com")
    await ingresses.secret("default", "foo-tls", cert=cert, key=key)
    await ingresses.create("default", "shp", rules=[
        rule("foo.com", path("/foo", "kuard", 8080), path("/bar", "hackazon", 80))], tls=[(["foo.com"], "foo-tls")])
    await ingresses.create("default", "plain", rules=[rule("noo.com", path("/", "hackazon", 80))])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    vip = await vip_of(controller, f"{C}--Shared-L7-0")
    await routed(controller, vip=vip, port=443, host="foo.com", path="/bar")

    async def sni_pools() -> list[str]:
        return await controller.names("pool", contains=f"{C}--default-foo.com")

    await ingresses.replace_rules("default", "shp", [rule("foo.com", path("/foo", "kuard", 8080))])
    await routed(controller, vip=vip, port=443, host="foo.com", path="/bar", check=not_served)
    await eventually(lambda: _equals(sni_pools, [f"{C}--default-foo.com_foo-shp"]), what="one SNI pool")
    await ingresses.replace_rules("default", "shp", [rule("foo.com", path("/foo", "kuard", 8080),
                                                          path("/bar", "hackazon", 80), path("/baz", "kuard", 8080))])
    await eventually(lambda: _equals(sni_pools, sorted(f"{C}--default-foo.com_{p}-shp" for p in ("foo", "bar", "baz"))),
                     what="three SNI pools")
    policy = await controller.one("httppolicyset", f"{C}--default-foo.com")
    assert len(policy["http_request_policy"]["rules"]) == 3

    await ingresses.delete("default", "shp")
    await eventually(lambda: _equals(sni_pools, []), what="SNI pools removed")
    await eventually(lambda: _is_none(controller, "virtualservice", f"{C}--foo.com"), what="SNI child removed")
    # The shared VS and its VIP stay: the other Ingress still uses them, and they would stay anyway.
    assert await vip_of(controller, f"{C}--Shared-L7-0") == vip
    await ingresses.delete("default", "plain")
    await eventually(lambda: _equals(lambda: controller.names("pool", contains=f"{C}--noo.com"), []),
                     what="the plain pool removed")
    await akod.wait_in_sync()
    assert await vip_of(controller, f"{C}--Shared-L7-0") == vip
    assert await controller.maybe("virtualservice", f"{C}--Shared-L7-0") is not None
    await routed(controller, vip=vip, port=80, host="noo.com", check=not_served)
    assert akod.stop() == 0


async def _equals(probe: Any, expected: Any) -> bool:
    return await probe() == expected


async def _is_none(controller: Controller, obj_type: str, name: str) -> bool:
    return await controller.maybe(obj_type, name) is None


async def test_nodeport_backends_and_other_ingress_classes(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    await nodes.seed()
    svc = await services.create("default", "web", ports=[(80, "TCP")], endpoints=["10.34.1.10"], svc_type="NodePort")
    node_port = svc["spec"]["ports"][0]["node_port"]
    await ingresses.ensure_class("nginx", controller="k8s.io/ingress-nginx")
    await ingresses.create("default", "web", rules=[rule("web.avi.iberia.local", path("/", "web", 80))])
    await ingresses.create("default", "theirs", rules=[rule("theirs.avi.iberia.local", path("/", "web", 80))],
                           class_name="nginx")
    akod = make_daemon(extra_config='[l7]\nservice_type = "NodePort"\n')
    akod.start()
    await akod.wait_in_sync()
    vip = await vip_of(controller, shard("web.avi.iberia.local"))
    answer = await routed(controller, vip=vip, port=80, host="web.avi.iberia.local")
    assert servers(answer) == sorted((ip, node_port) for ip in ("10.10.30.11", "10.10.30.12", "10.10.30.13"))
    assert await controller.names("pool", contains=f"{C}--theirs") == []
    assert not [e for e in (await akod.status())["errors"] if e["name"] == "theirs"]
    assert await ingresses.status("default", "theirs") == []
    assert akod.stop() == 0


async def test_bad_ingresses_are_object_errors_and_converge_once_fixed(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    await seed_apps(services, nodes)
    good_cert, good_key = make_cert("good.avi.iberia.local")
    other_cert, other_key = make_cert("other.avi.iberia.local")
    old_cert, old_key = make_cert("old.avi.iberia.local", expired=True)
    await ingresses.secret("default", "good-tls", cert=good_cert, key=good_key)
    await ingresses.secret("default", "garbage-tls", cert="not a certificate", key="not a key")
    await ingresses.secret("default", "mismatch-tls", cert=good_cert, key=other_key)
    await ingresses.secret("default", "expired-tls", cert=old_cert, key=old_key)
    await ingresses.create("default", "good", rules=[rule("good.avi.iberia.local", path("/", "hackazon", 80))],
                           tls=[(["good.avi.iberia.local"], "good-tls")])
    await ingresses.create("default", "nosvc", rules=[rule("nosvc.avi.iberia.local", path("/", "missing", 80))])
    await ingresses.create("default", "noport", rules=[rule("noport.avi.iberia.local", path("/", "kuard", "http"))])
    for name in ("garbage", "mismatch", "expired"):
        host = f"{name}.avi.iberia.local"
        await ingresses.create("default", name, rules=[rule(host, path("/", "kuard", 8080))],
                               tls=[([host], f"{name}-tls")])
    await ingresses.create("default", "wild", rules=[rule("*.avi.iberia.local", path("/", "kuard", 8080))])
    await ingresses.create("default", "first", rules=[rule("dup.avi.iberia.local", path("/x", "hackazon", 80))])
    await ingresses.create("default", "second", rules=[rule("dup.avi.iberia.local", path("/x", "kuard", 8080))])
    akod = make_daemon()
    akod.start()
    await akod.wait_ready()
    # Upper case, a trailing dot, over 253 characters and a relative path never reach akod through
    # a real apiserver (it refuses them: 422); tests/unit/test_l7_*.py covers them in the model.
    bad = {"nosvc", "noport", "garbage", "mismatch", "expired", "wild", "second"}

    async def errors() -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for e in (await akod.status())["errors"]:
            if e["kind"] == "Ingress":
                found.setdefault(e["name"], []).append(e)
        return found if bad <= set(found) else {}

    found = await eventually(errors, what="an object error for each bad Ingress")
    assert "good" not in found and "first" not in found
    # Fields named as the Ingress's API version spells them (v1beta1: backend.serviceName, servicePort).
    service_field, port_field = (("backend.service.name", "backend.service.port.name") if ingresses.net.v1
                                 else ("backend.serviceName", "backend.servicePort"))
    assert any(e["field"].endswith(service_field) for e in found["nosvc"]), found["nosvc"]
    assert any(e["field"].endswith(port_field) for e in found["noport"]), found["noport"]
    for name in ("garbage", "mismatch", "expired"):
        assert any(f"{name}-tls" in e["message"] and "spec.tls" in e["field"] for e in found[name]), found[name]
    assert any("host" in e["field"] for e in found["wild"])
    assert any("dup.avi.iberia.local" in e["message"] for e in found["second"])
    events = await ingresses.events_for("default", "nosvc")
    assert any(e.type == "Warning" for e in events)
    # Everything good is served: the good TLS host, and the oldest claim of the duplicated path.
    vip = await vip_of(controller, shard("good.avi.iberia.local"))
    await routed(controller, vip=vip, port=443, host="good.avi.iberia.local")
    dup_vip = await vip_of(controller, shard("dup.avi.iberia.local"))
    dup = await routed(controller, vip=dup_vip, port=80, host="dup.avi.iberia.local", path="/x")
    assert dup["pool"] == f"{C}--dup.avi.iberia.local_x-default-first"
    for name in ("garbage", "mismatch", "expired"):
        assert await controller.maybe("sslkeyandcertificate", f"{C}--{name}.avi.iberia.local") is None
    akod.assert_running()

    # Fixed: the Service appears, the Secret gets a good certificate.
    await services.create("default", "missing", ports=[(80, "TCP")], endpoints=["10.34.2.20"], svc_type="ClusterIP")
    cert, key = make_cert("expired.avi.iberia.local")
    await ingresses.secret("default", "expired-tls", cert=cert, key=key)
    nosvc_vip = await vip_of(controller, shard("nosvc.avi.iberia.local"))
    await routed(controller, vip=nosvc_vip, port=80, host="nosvc.avi.iberia.local",
                 check=lambda code, answer: code == 200 and servers(answer) == [("10.34.2.20", 80)])
    exp_vip = await vip_of(controller, shard("expired.avi.iberia.local"))
    await routed(controller, vip=exp_vip, port=443, host="expired.avi.iberia.local")

    async def cleared() -> bool:
        names = {e["name"] for e in (await akod.status())["errors"] if e["kind"] == "Ingress"}
        return not names & {"nosvc", "expired"}

    await eventually(cleared, what="the errors of the fixed Ingresses cleared")
    assert akod.stop() == 0


async def test_adding_a_path_on_a_shard_of_500_hosts_sends_a_small_request(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    await seed_apps(services, nodes)
    hosts = [f"h{i:03d}.avi.iberia.local" for i in range(500)]
    await ingresses.create("default", "big", rules=[rule(h, path("/", "hackazon", 80)) for h in hosts])
    await ingresses.create("default", "small", rules=[rule("small.avi.iberia.local", path("/", "kuard", 8080))])
    akod = make_daemon(extra_config='[l7]\nshard_vs_size = "SMALL"\n')
    akod.start()
    await akod.wait_in_sync(timeout=120)
    vip = await vip_of(controller, f"{C}--Shared-L7-0")
    await routed(controller, vip=vip, port=80, host="h499.avi.iberia.local")
    await routed(controller, vip=vip, port=80, host="small.avi.iberia.local")
    before = len(await controller.requests())
    await ingresses.replace_rules("default", "small", [rule("small.avi.iberia.local", path("/", "kuard", 8080),
                                                            path("/api", "hackazon", 80))])
    new_pool = f"{C}--small.avi.iberia.local_api-default-small"
    await routed(controller, vip=vip, port=80, host="small.avi.iberia.local", path="/api/v1",
                 check=lambda code, answer: code == 200 and answer["pool"] == new_pool)
    await routed(controller, vip=vip, port=80, host="small.avi.iberia.local", path="/other",
                 check=lambda code, answer: code == 200 and answer["pool"] == f"{C}--small.avi.iberia.local_-default-small")
    await akod.wait_in_sync()
    new = [r for r in (await controller.requests())[before:] if r["method"] in ("POST", "PUT", "PATCH", "DELETE")]
    policy_writes = [r for r in new if r["path"].startswith("/api/httppolicyset")]
    assert [r["method"] for r in policy_writes] == ["PATCH"], new
    assert policy_writes[0]["bytes"] < 4000, policy_writes[0]
    assert all(r["bytes"] < 4000 for r in new), new
    assert akod.stop() == 0


async def test_kill_9_while_creating_50_ingresses_leaves_exact_objects(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    await seed_apps(services, nodes)
    await controller.faults({"latency_ms": {"write": 20, "read": 0}})
    names = [f"app{i:02d}" for i in range(50)]
    tls = set(names[:20])
    for name in names:
        host = f"{name}.avi.iberia.local"
        if name in tls:
            cert, key = make_cert(host)
            await ingresses.secret("default", f"{name}-tls", cert=cert, key=key)
        await ingresses.create("default", name, rules=[rule(host, path("/", "kuard", 8080))],
                               tls=[([host], f"{name}-tls")] if name in tls else ())
    akod = make_daemon()
    await kill9_while_writing(akod, controller, obj_type="pool", sync_timeout=120)
    hosts = {n: f"{n}.avi.iberia.local" for n in names}
    shards = sorted({shard(h) for h in hosts.values()})
    assert await controller.names("pool") == sorted(
        [f"{C}--default-{hosts[n]}_-{n}" for n in tls] + [f"{C}--{hosts[n]}_-default-{n}" for n in names if n not in tls])
    assert await controller.names("poolgroup") == sorted(f"{C}--default-{hosts[n]}_-{n}" for n in tls)
    assert await controller.names("sslkeyandcertificate") == sorted(f"{C}--{hosts[n]}" for n in tls)
    assert await controller.names("virtualservice") == sorted(shards + [f"{C}--{hosts[n]}" for n in tls])
    assert await controller.names("vsvip") == shards
    assert await controller.names("httppolicyset") == sorted(shards + [f"{C}--default-{hosts[n]}" for n in tls])
    for name in names:
        vip = await vip_of(controller, shard(hosts[name]))
        await routed(controller, vip=vip, port=443 if name in tls else 80, host=hosts[name])

    async def statuses() -> bool:
        for name in names:
            if [e["hostname"] for e in await ingresses.status("default", name)] != [hosts[name]]:
                return False
        return True

    await eventually(statuses, timeout=60, what="every Ingress's status")
    assert akod.stop() == 0


async def test_restart_with_nothing_changed_writes_nothing(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    await seed_ingresses(services, nodes, ingresses)
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    await routed(controller, vip=await vip_of(controller, shard(KUARD)), port=443, host=KUARD)
    await eventually(lambda: _has_status(ingresses, "kuard"), what="kuard's status")
    assert await writes_of_a_restart(akod, controller) == []
    assert akod.stop() == 0


async def _has_status(ingresses: Ingresses, name: str, ns: str = "default") -> bool:
    return bool(await ingresses.status(ns, name))


async def test_plan_shows_the_l7_objects_and_cleanup_removes_them_children_first(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    from tests.e2e.harness import akod_cli

    await seed_ingresses(services, nodes, ingresses)
    akod = make_daemon()
    plan = akod_cli("plan", "--config", str(akod.config))
    assert plan.returncode == 10, plan.stdout + plan.stderr
    for line in (f"create virtualservice {shard(KUARD)}", f"create virtualservice {C}--{KUARD}",
                 f"create sslkeyandcertificate {C}--{KUARD}", f"create pool {C}--{HACK}_-default-hackazon",
                 f"create httppolicyset {C}--default-{KUARD}"):
        assert line in plan.stdout, plan.stdout
    assert "PRIVATE KEY" not in plan.stdout + plan.stderr
    akod.start()
    await akod.wait_in_sync()
    assert akod.stop() == 0
    again = akod_cli("plan", "--config", str(akod.config))
    assert again.returncode == 0, again.stdout + again.stderr
    done = akod_cli("cleanup", "--config", str(akod.config), "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    for obj_type in ("virtualservice", "vsvip", "pool", "poolgroup", "httppolicyset", "sslkeyandcertificate"):
        assert await controller.names(obj_type) == [], obj_type
    assert await ingresses.status("default", "kuard") == []  # no VIP left behind in Kubernetes either
    assert "ako.vmware.com/host-fqdn-vs-uuid-map" not in await ingresses.annotations("default", "kuard")


async def test_a_rule_without_host_is_served_on_the_default_domain_and_a_port_by_name(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    await seed_apps(services, nodes)
    await ingresses.create("default", "nohost", rules=[rule(None, path("/", "hackazon", "p80"))])  # port by name
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    host = "nohost.default.avi.iberia.local"
    vip = await vip_of(controller, shard(host))
    answer = await routed(controller, vip=vip, port=80, host=host)
    assert servers(answer) == [("10.34.1.10", 80)]
    await eventually(lambda: _equals(lambda: ingresses.status("default", "nohost"), [{"hostname": host, "ip": vip}]),
                     what="the status with the generated host")
    assert akod.stop() == 0


async def test_namespace_label_removed_unserves_the_ingress_and_restored_serves_it_again(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon, kube_client) -> None:
    import secrets

    from kubernetes_asyncio import client as k8s

    core = k8s.CoreV1Api(kube_client)
    ns = f"team-{secrets.token_hex(3)}"
    await core.create_namespace({"metadata": {"name": ns, "labels": {"avi": "yes"}}})
    await services.create(ns, "web", ports=[(80, "TCP")], endpoints=["10.34.1.10"], svc_type="ClusterIP")
    await services.create("default", "web", ports=[(80, "TCP")], endpoints=["10.34.1.11"], svc_type="ClusterIP")
    host, outside = "team.avi.iberia.local", "outside.avi.iberia.local"
    await ingresses.create(ns, "web", rules=[rule(host, path("/", "web", 80))])
    await ingresses.create("default", "web", rules=[rule(outside, path("/", "web", 80))])
    akod = make_daemon(extra_config='[namespaces]\nselector = { key = "avi", value = "yes" }\n')
    akod.start()
    await akod.wait_in_sync()
    vip = await vip_of(controller, shard(host))
    pool = f"{C}--{host}_-{ns}-web"
    await routed(controller, vip=vip, port=80, host=host)
    assert await controller.names("pool", contains=outside) == []
    await eventually(lambda: _has_status(ingresses, "web", ns), what="the status")

    await core.patch_namespace(ns, {"metadata": {"labels": {"avi": None}}})
    await eventually(lambda: _equals(lambda: controller.names("pool", contains=host), []), what="the pool removed")
    await routed(controller, vip=vip, port=80, host=host, check=not_served)
    await eventually(lambda: _equals(lambda: ingresses.status(ns, "web"), []), what="the status cleared")

    await core.patch_namespace(ns, {"metadata": {"labels": {"avi": "yes"}}})
    await eventually(lambda: _equals(lambda: controller.names("pool", contains=host), [pool]), what="the pool back")
    await routed(controller, vip=vip, port=80, host=host)
    assert akod.stop() == 0


async def test_dedicated_mode_gives_each_host_its_own_vs_which_goes_with_its_last_path(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    await seed_apps(services, nodes)
    cert, key = make_cert(KUARD)
    await ingresses.secret("default", "kuard-tls", cert=cert, key=key)
    await ingresses.create("default", "hackazon", rules=[rule(HACK, path("/", "hackazon", 80))])
    await ingresses.create("default", "kuard", rules=[rule(KUARD, path("/", "kuard", 8080))],
                           tls=[([KUARD], "kuard-tls")])
    akod = make_daemon(extra_config='[l7]\nshard_vs_size = "DEDICATED"\n')
    akod.start()
    await akod.wait_in_sync()
    hack_vs, kuard_vs = f"{C}--{HACK}-L7-dedicated", f"{C}--{KUARD}-L7-dedicated"
    hack_vip, kuard_vip = await vip_of(controller, hack_vs), await vip_of(controller, kuard_vs)
    assert hack_vip != kuard_vip
    answer = await routed(controller, vip=hack_vip, port=80, host=HACK)
    assert answer["vs"] == hack_vs and servers(answer) == [("10.34.1.10", 80)]
    answer = await routed(controller, vip=kuard_vip, port=443, host=KUARD)
    assert answer["vs"] == kuard_vs and servers(answer) == [("10.34.1.11", 8080), ("10.34.2.12", 8080)]
    redirect = await routed(controller, vip=kuard_vip, port=80, host=KUARD)
    assert redirect["redirect"]["port"] == 443
    await eventually(lambda: _equals(lambda: ingresses.status("default", "hackazon"), [{"hostname": HACK, "ip": hack_vip}]),
                     what="hackazon's status")
    await ingresses.delete("default", "hackazon")
    await eventually(lambda: _is_none(controller, "virtualservice", hack_vs), what="the dedicated VS removed")
    await eventually(lambda: _is_none(controller, "vsvip", hack_vs), what="its VIP removed")
    assert await controller.maybe("virtualservice", kuard_vs) is not None
    assert akod.stop() == 0


async def test_reload_without_default_ingress_controller_unserves_classless_ingresses(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    import signal

    await seed_apps(services, nodes)
    await ingresses.create("default", "classless", rules=[rule(HACK, path("/", "hackazon", 80))], class_name=None)
    await ingresses.create("default", "classy", rules=[rule(KUARD, path("/", "kuard", 8080))])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    hack_vip = await vip_of(controller, shard(HACK))
    await routed(controller, vip=hack_vip, port=80, host=HACK)
    await eventually(lambda: _has_status(ingresses, "classless"), what="the classless Ingress's status")

    akod.write_config(extra='[l7]\ndefault_ing_controller = false\n')
    akod.signal(signal.SIGHUP)
    await routed(controller, vip=hack_vip, port=80, host=HACK, check=not_served)
    await eventually(lambda: _equals(lambda: ingresses.status("default", "classless"), []), what="its status cleared")
    await routed(controller, vip=await vip_of(controller, shard(KUARD)), port=80, host=KUARD)
    assert akod.stop() == 0


async def test_faults_on_the_controller_are_retried_until_the_shard_converges(
        controller, nodes: Nodes, services, ingresses: Ingresses, make_daemon) -> None:
    await controller.faults({"errors": [
        {"method": "POST", "path": "/api/virtualservice", "status": 400, "probability": 1.0, "count": 1},
        {"method": "PATCH", "path": "/api/httppolicyset", "status": 503, "probability": 1.0, "count": 2},
        {"method": "POST", "path": "/api/pool", "status": 503, "probability": 0.3, "count": 5}]})
    await seed_ingresses(services, nodes, ingresses)
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync(timeout=60)
    assert shard(LATER) == shard(HACK)  # its rules are PATCHed into an existing shard policy set
    await ingresses.create("default", "later", rules=[rule(LATER, path("/", "hackazon", 80))])
    for host, port in ((HACK, 80), (KUARD, 443), (LATER, 80)):
        await routed(controller, vip=await vip_of(controller, shard(host)), port=port, host=host, timeout=60)
    await akod.wait_in_sync(timeout=60)
    vs_posts = [w["status"] for w in await controller.requests()
                if w["method"] == "POST" and w["path"].startswith("/api/virtualservice")]
    shards = {shard(h) for h in (HACK, KUARD, LATER)}
    assert vs_posts[0] == 400 and vs_posts.count(201) == len(shards) + 1, vs_posts  # + kuard's SNI child
    patches = [w["status"] for w in await controller.requests()
               if w["method"] == "PATCH" and w["path"].startswith("/api/httppolicyset")]
    assert patches[:2] == [503, 503] and patches[-1] == 200, patches
    assert not [e for e in (await akod.status())["errors"] if e["kind"] == "Ingress"]
    for name in ("hackazon", "kuard", "later"):
        await eventually(lambda: _has_status(ingresses, name), what=f"{name}'s status")
    assert akod.stop() == 0
