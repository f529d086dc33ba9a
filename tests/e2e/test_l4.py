"""Issue 3, end to end: LoadBalancer Services become Avi virtual services with VIPs.

Real kube-apiserver (1.20: core v1 Endpoints, made by the tests), the emulator in strict mode.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from tests.e2e.conftest import Controller, Nodes
from tests.e2e.harness import eventually, kill9_while_writing, writes_of_a_restart

VIP_NET = ipaddress.ip_network("10.10.25.0/24")
NODE_IPS = ["10.10.30.11", "10.10.30.12", "10.10.30.13"]


FQDN_MAP = "ako.vmware.com/host-fqdn-vs-uuid-map"


async def l4_state(controller: Controller, vs_name: str) -> dict[str, Any] | None:
    """The VS, its VIP and its pools' servers as the controller holds them, or None."""
    vs = await controller.maybe("virtualservice", vs_name)
    vsvip = await controller.maybe("vsvip", vs_name)
    if vs is None or vsvip is None:
        return None
    pools = {}
    for name in await controller.names("pool", contains=f"{vs_name}-"):
        pool = await controller.one("pool", name)
        pools[name] = sorted((s["ip"]["addr"], s.get("port"), s.get("enabled", True)) for s in pool.get("servers") or [])
    vips = [v["ip_address"]["addr"] for v in vsvip.get("vip") or [] if v.get("ip_address")]
    return {"vs": vs, "vip": vips[0] if vips else None, "pools": pools, "vsvip": vsvip}


async def settled(controller: Controller, vs_name: str, check) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | bool:
        state = await l4_state(controller, vs_name)
        return state if state is not None and check(state) else False

    return await eventually(probe, timeout=30, what=f"{vs_name} on the controller")


async def gone(controller: Controller, vs_name: str) -> None:
    async def probe() -> bool:
        return await controller.maybe("virtualservice", vs_name) is None and \
            await controller.maybe("vsvip", vs_name) is None and \
            not await controller.names("pool", contains=f"{vs_name}-")

    await eventually(probe, timeout=30, what=f"{vs_name} gone from the controller")


async def service_status(services, ns: str, name: str) -> list[dict[str, Any]]:
    svc = await services.get(ns, name)
    return [{k: v for k, v in (i.to_dict()).items() if v} for i in (svc.status.load_balancer.ingress or [])]


async def test_seed_services_get_vips_pools_and_status_in_clusterip_mode(controller, nodes: Nodes, services,
                                                                         make_daemon) -> None:
    await nodes.seed()
    await services.create("default", "hackazon", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    await services.create("default", "kuard", ports=[(8080, "TCP")], endpoints=["10.34.1.11", "10.34.2.12"])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    hack = await settled(controller, "S1-AZ1--default-hackazon",
                         lambda s: s["pools"] == {"S1-AZ1--default-hackazon-TCP-80": [("10.34.1.10", 80, True)]})
    kuard = await settled(controller, "S1-AZ1--default-kuard", lambda s: s["pools"] == {
        "S1-AZ1--default-kuard-TCP-8080": [("10.34.1.11", 8080, True), ("10.34.2.12", 8080, True)]})
    for state in (hack, kuard):
        assert ipaddress.ip_address(state["vip"]) in VIP_NET
        assert state["vs"]["created_by"] == "ako-S1-AZ1"
    assert hack["vip"] != kuard["vip"]

    async def status_written() -> bool:
        return await service_status(services, "default", "hackazon") == [
            {"ip": hack["vip"], "hostname": "hackazon.default.avi.iberia.local"}]

    await eventually(status_written, what="hackazon's EXTERNAL-IP")
    svc = await services.get("default", "hackazon")
    assert "ako.vmware.com/host-fqdn-vs-uuid-map" in (svc.metadata.annotations or {})
    assert await l4_state(controller, "S1-AZ1--default-kuard") is not None
    # Route sync keeps working next to L4.
    assert akod.stop() == 0


async def test_nodeport_mode_pools_have_every_node_with_the_node_port(controller, nodes: Nodes, services,
                                                                       make_daemon) -> None:
    await nodes.seed()
    svc = await services.create("default", "hackazon", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    node_port = svc["spec"]["ports"][0]["node_port"]
    akod = make_daemon(extra_config='[l7]\nservice_type = "NodePort"\n')
    akod.start()
    await akod.wait_in_sync()
    await settled(controller, "S1-AZ1--default-hackazon", lambda s: s["pools"] == {
        "S1-AZ1--default-hackazon-TCP-80": [(ip, node_port, True) for ip in NODE_IPS]})
    # NodePort mode turns static routes off.
    assert [r for r in await controller.vrf_routes() if r.get("labels")] == []
    assert akod.stop() == 0


async def test_one_endpoint_added_costs_exactly_one_write(controller, nodes: Nodes, services, make_daemon) -> None:
    await services.create("default", "kuard", ports=[(8080, "TCP")], endpoints=["10.34.1.11"])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    await settled(controller, "S1-AZ1--default-kuard", lambda s: len(s["pools"]) == 1)
    before = await controller.writes()
    await services.set_endpoints("default", "kuard", ips=["10.34.1.11", "10.34.2.12"], ports=[(8080, "TCP")])
    await settled(controller, "S1-AZ1--default-kuard", lambda s: [p[0] for p in s["pools"][
        "S1-AZ1--default-kuard-TCP-8080"]] == ["10.34.1.11", "10.34.2.12"])
    await akod.wait_in_sync()
    new = (await controller.writes())[len(before):]
    assert [(w["method"], w["path"].split("/")[2]) for w in new] == [("PUT", "pool")], new
    assert akod.stop() == 0


async def test_a_burst_of_endpoint_updates_is_coalesced(controller, nodes: Nodes, services, make_daemon) -> None:
    await services.create("default", "kuard", ports=[(8080, "TCP")], endpoints=["10.34.1.11"])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    await settled(controller, "S1-AZ1--default-kuard", lambda s: len(s["pools"]) == 1)
    before = len(await controller.writes())
    final: list[str] = []
    for i in range(100):
        final = [f"10.34.{i % 4}.{j + 1}" for j in range(1 + i % 7)]
        await services.set_endpoints("default", "kuard", ips=final, ports=[(8080, "TCP")])
    expected = sorted((ip, 8080, True) for ip in final)
    await settled(controller, "S1-AZ1--default-kuard",
                  lambda s: s["pools"]["S1-AZ1--default-kuard-TCP-8080"] == expected)
    await akod.wait_in_sync()
    pool_writes = [w for w in (await controller.writes())[before:] if w["path"].startswith("/api/pool")]
    assert len(pool_writes) <= 5, pool_writes
    assert akod.stop() == 0


async def test_type_change_deletes_and_back_recreates(controller, nodes: Nodes, services, make_daemon) -> None:
    await services.create("default", "hackazon", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    await settled(controller, "S1-AZ1--default-hackazon", lambda s: bool(s["pools"]))
    await services.patch("default", "hackazon", {"spec": {"type": "ClusterIP", "externalTrafficPolicy": None}})
    await gone(controller, "S1-AZ1--default-hackazon")
    await eventually(lambda: _no_status(services, "default", "hackazon"), what="the status cleared")
    await services.patch("default", "hackazon", {"spec": {"type": "LoadBalancer"}})
    await settled(controller, "S1-AZ1--default-hackazon", lambda s: bool(s["pools"]))
    await services.delete("default", "hackazon")
    await gone(controller, "S1-AZ1--default-hackazon")
    assert akod.stop() == 0


async def _no_status(services, ns: str, name: str) -> bool:
    return await service_status(services, ns, name) == []


async def test_restart_with_nothing_changed_writes_nothing(controller, nodes: Nodes, services, make_daemon) -> None:
    await nodes.seed()
    for i in range(5):
        await services.create("default", f"app{i}", ports=[(80, "TCP"), (443, "TCP")],
                              endpoints=[f"10.34.1.{i + 10}"])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    for i in range(5):
        await settled(controller, f"S1-AZ1--default-app{i}", lambda s: len(s["pools"]) == 2)
    assert await writes_of_a_restart(akod, controller) == []
    assert akod.stop() == 0


async def test_bad_input_is_an_object_error_and_converges_once_fixed(controller, nodes: Nodes, services,
                                                                     make_daemon, kube_client) -> None:
    from kubernetes_asyncio import client as k8s

    await services.create("default", "good", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    await services.create("default", "banana", ports=[(80, "TCP")], endpoints=["10.34.1.11"],
                          annotations={"ako.vmware.com/load-balancer-ip": "banana"})
    await services.create("default", "faraway", ports=[(80, "TCP")], endpoints=["10.34.1.12"], lb_ip="192.0.2.50")
    await services.create("default", "sctp", ports=[(9999, "SCTP")], endpoints=["10.34.1.13"])
    long_name = "x" * 63
    long_ns = "ns-" + "y" * 60
    await k8s.CoreV1Api(kube_client).create_namespace({"metadata": {"name": long_ns}})
    await services.create(long_ns, long_name, ports=[(80, "TCP")], endpoints=["10.34.1.14"],
                          annotations={"ako.vmware.com/enable-shared-vip": "z" * 200})
    akod = make_daemon()
    akod.start()
    await akod.wait_ready()
    await settled(controller, "S1-AZ1--default-good", lambda s: bool(s["pools"]))

    async def errors() -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for e in (await akod.status())["errors"]:
            if e["kind"] == "Service":
                found.setdefault(e["name"], []).append(e)
        return found if {"banana", "faraway", "sctp", long_name} <= set(found) else {}

    found = await eventually(errors, what="an object error for each bad Service")
    assert any("ako.vmware.com/load-balancer-ip" in e["field"] for e in found["banana"])
    assert any(e["field"] == "spec.loadBalancerIP" for e in found["faraway"])
    assert any("protocol" in e["field"] for e in found["sctp"])
    assert any("255" in e["message"] for e in found[long_name])
    for name in ("banana", "faraway", "sctp"):
        assert await controller.maybe("virtualservice", f"S1-AZ1--default-{name}") is None
    events = await k8s.CoreV1Api(kube_client).list_namespaced_event("default")
    assert any(e.involved_object.name == "banana" and e.type == "Warning" for e in events.items)
    # Fixing the cause makes the Service converge; the error goes away.
    await services.patch("default", "banana", {"metadata": {"annotations": {
        "ako.vmware.com/load-balancer-ip": "10.10.25.200"}}})
    state = await settled(controller, "S1-AZ1--default-banana", lambda s: bool(s["pools"]))
    assert state["vip"] == "10.10.25.200"

    async def banana_clear() -> bool:
        return not [e for e in (await akod.status())["errors"] if e["name"] == "banana"]

    await eventually(banana_clear, what="banana's error to clear")
    akod.assert_running()
    assert akod.stop() == 0


async def test_ipam_exhaustion_is_an_error_until_an_address_is_free(controller, nodes: Nodes, services,
                                                                     make_daemon) -> None:
    net = await controller.one("network", "AVI_FRONTEND_3025")
    subnet = net["configured_subnets"][0]
    ranges = subnet.get("static_ip_ranges") or []
    ranges[0]["range"] = {"begin": {"addr": "10.10.25.10", "type": "V4"}, "end": {"addr": "10.10.25.11", "type": "V4"}}
    code, body = await controller.call("PUT", f"/api/network/{net['uuid']}", net)
    assert code == 200, body
    for name in ("one", "two", "three"):
        await services.create("default", name, ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    akod = make_daemon()
    akod.start()
    await akod.wait_ready()

    async def exhausted() -> list[dict]:
        return [e for e in (await akod.status())["errors"] if e["reason"] == "IPAMExhausted"]

    found = await eventually(exhausted, what="an IPAM exhaustion error")
    starved = found[0]["name"]
    assert "No available free IPs" in found[0]["message"]
    others = [n for n in ("one", "two", "three") if n != starved]
    await services.delete("default", others[0])
    await settled(controller, f"S1-AZ1--default-{starved}", lambda s: bool(s["pools"]))
    akod.assert_running()
    assert akod.stop() == 0


async def test_kill_9_while_creating_50_services_leaves_exact_objects(controller, nodes: Nodes, services,
                                                                      make_daemon) -> None:
    await controller.faults({"latency_ms": {"write": 20, "read": 0}})
    names = [f"web{i:02d}" for i in range(50)]
    for name in names:
        await services.create("default", name, ports=[(80, "TCP")], endpoints=["10.34.1.10", "10.34.2.10"])
    akod = make_daemon()
    await kill9_while_writing(akod, controller, obj_type="virtualservice", sync_timeout=90)
    expected_vs = sorted(f"S1-AZ1--default-{n}" for n in names)
    assert await controller.names("virtualservice") == expected_vs
    assert await controller.names("vsvip") == expected_vs
    assert await controller.names("l4policyset") == expected_vs
    assert await controller.names("pool") == sorted(f"S1-AZ1--default-{n}-TCP-80" for n in names)

    async def statuses() -> bool:
        for name in names:
            if not await service_status(services, "default", name):
                return False
        return True

    await eventually(statuses, timeout=30, what="every Service's status")
    assert akod.stop() == 0


async def test_a_failed_first_create_is_retried_and_objects_shows_the_service(controller, nodes: Nodes, services,
                                                                              make_daemon) -> None:
    await controller.faults({"errors": [{"method": "POST", "path": "/api/virtualservice", "status": 400,
                                         "probability": 1.0, "count": 1}]})
    await services.create("default", "hackazon", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    akod = make_daemon()
    akod.start()
    await settled(controller, "S1-AZ1--default-hackazon", lambda s: bool(s["pools"]))
    await akod.wait_in_sync()
    code, body = await akod.get("/objects?kind=Service&namespace=default&name=hackazon")
    assert code == 200
    made = {(o["type"], o["name"]): o for o in body["objects"][0]["avi_objects"]}
    assert set(made) == {("vsvip", "S1-AZ1--default-hackazon"), ("pool", "S1-AZ1--default-hackazon-TCP-80"),
                         ("l4policyset", "S1-AZ1--default-hackazon"), ("virtualservice", "S1-AZ1--default-hackazon")}
    assert all(o["state"] == "applied" for o in made.values())
    vs_posts = [w for w in await controller.requests()
                if w["method"] == "POST" and w["path"].startswith("/api/virtualservice")]
    assert [w["status"] for w in vs_posts] == [400, 201]
    assert akod.stop() == 0


async def test_plan_lists_the_l4_objects_to_create_and_nothing_once_synced(controller, nodes: Nodes, services,
                                                                            make_daemon) -> None:
    from tests.e2e.harness import akod_cli

    await services.create("default", "hackazon", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    akod = make_daemon()
    plan = akod_cli("plan", "--config", str(akod.config))
    assert plan.returncode == 10, plan.stdout + plan.stderr
    for line in ("create vsvip S1-AZ1--default-hackazon", "create pool S1-AZ1--default-hackazon-TCP-80",
                 "create l4policyset S1-AZ1--default-hackazon", "create virtualservice S1-AZ1--default-hackazon"):
        assert line in plan.stdout, plan.stdout
    akod.start()
    await akod.wait_in_sync()
    assert akod.stop() == 0
    again = akod_cli("plan", "--config", str(akod.config))
    assert again.returncode == 0, again.stdout + again.stderr


async def test_cleanup_deletes_every_object_of_the_cluster(controller, nodes: Nodes, services, make_daemon) -> None:
    from tests.e2e.harness import akod_cli

    from kubernetes_asyncio import client as k8s

    await nodes.seed()
    await services.create("default", "hackazon", ports=[(80, "TCP"), (443, "TCP")], endpoints=["10.34.1.10"])
    await services.create("default", "foreign", ports=[(80, "TCP")], endpoints=["10.34.1.11"])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    await settled(controller, "S1-AZ1--default-hackazon", lambda s: len(s["pools"]) == 2)
    assert akod.stop() == 0
    hack = await services.get("default", "hackazon")
    assert hack.status.load_balancer.ingress and FQDN_MAP in hack.metadata.annotations
    # A status some other controller wrote (its FQDN map names no VS of this cluster) is not akod's.
    core = k8s.CoreV1Api(services.core.api_client)
    await services.patch("default", "foreign", {
        "metadata": {"annotations": {FQDN_MAP: '{"foreign.example": "virtualservice-not-ours"}'}}})
    await core.patch_namespaced_service_status("foreign", "default", {
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.9"}]}}})
    dry = akod_cli("cleanup", "--config", str(akod.config))
    assert dry.returncode == 0 and "would delete 9 object(s)" in dry.stdout, dry.stdout
    assert "would clear the status akod wrote on 1 object(s)\n  Service default/hackazon" in dry.stdout, dry.stdout
    assert (await services.get("default", "hackazon")).status.load_balancer.ingress  # a dry run writes nothing
    done = akod_cli("cleanup", "--config", str(akod.config), "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    for obj_type in ("virtualservice", "vsvip", "pool", "l4policyset"):
        assert await controller.names(obj_type) == []
    assert [r for r in await controller.vrf_routes() if r.get("labels")] == []
    # AKO's deleteConfig leaves no VIP behind in Kubernetes either; the foreign status stays.
    hack = await services.get("default", "hackazon")
    assert not hack.status.load_balancer.ingress and FQDN_MAP not in (hack.metadata.annotations or {})
    foreign = await services.get("default", "foreign")
    assert [i.ip for i in foreign.status.load_balancer.ingress] == ["192.0.2.9"]


async def test_namespace_selector_label_removed_deletes_and_restored_recreates(controller, nodes: Nodes, services,
                                                                               make_daemon, kube_client) -> None:
    import secrets

    from kubernetes_asyncio import client as k8s

    core = k8s.CoreV1Api(kube_client)
    ns = f"team-{secrets.token_hex(3)}"
    await core.create_namespace({"metadata": {"name": ns, "labels": {"avi": "yes"}}})
    await services.create(ns, "web", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    await services.create("default", "outside", ports=[(80, "TCP")], endpoints=["10.34.1.11"])
    akod = make_daemon(extra_config='[namespaces]\nselector = { key = "avi", value = "yes" }\n')
    akod.start()
    await akod.wait_in_sync()
    vs = f"S1-AZ1--{ns}-web"
    await settled(controller, vs, lambda s: bool(s["pools"]))
    assert await controller.maybe("virtualservice", "S1-AZ1--default-outside") is None
    await core.patch_namespace(ns, {"metadata": {"labels": {"avi": None}}})
    await gone(controller, vs)
    await core.patch_namespace(ns, {"metadata": {"labels": {"avi": "yes"}}})
    await settled(controller, vs, lambda s: bool(s["pools"]))
    assert akod.stop() == 0


async def test_reloading_the_fqdn_style_updates_vips_and_status(controller, nodes: Nodes, services,
                                                                make_daemon) -> None:
    import signal

    await services.create("default", "hackazon", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    await settled(controller, "S1-AZ1--default-hackazon", lambda s: s["vsvip"].get("dns_info") == [
        {"fqdn": "hackazon.default.avi.iberia.local", **{k: v for k, v in s["vsvip"]["dns_info"][0].items()
                                                         if k != "fqdn"}}])
    akod.write_config(extra='[l4]\nauto_fqdn = "flat"\n')
    akod.signal(signal.SIGHUP)
    await settled(controller, "S1-AZ1--default-hackazon",
                  lambda s: [d["fqdn"] for d in s["vsvip"].get("dns_info") or []] == ["hackazon-default.avi.iberia.local"])

    async def hostname() -> bool:
        return [i.get("hostname") for i in await service_status(services, "default", "hackazon")] == [
            "hackazon-default.avi.iberia.local"]

    await eventually(hostname, what="the flat FQDN in the Service status")
    assert akod.stop() == 0
