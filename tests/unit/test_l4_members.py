"""Pool servers of L4 pools: endpoint matching, NodePort mode (scenarios 10-13 of §6.2), dual stack."""

from __future__ import annotations

import ipaddress
from typing import Any

from tests.unit.test_l4_seed import (
    SEED_NODES,
    bodies,
    ctx,
    endpoint,
    ep_port,
    eps,
    node,
    one,
    port,
    servers,
    service,
    translate,
)

NODEPORT = ctx(cluster="cluster", service_type="NodePort", node_networks=(("net123", ("10.1.1.0/24",)),))
SKIP = "skipnodeport.ako.vmware.com/enabled"


def np_service(**kwargs: Any) -> dict[str, Any]:
    return service("testsvc", namespace="red-ns", ports=[port(8080, node_port=31030)], **kwargs)


def pod_eps(*items: tuple[str, str], ready: bool = True) -> dict[str, list[dict[str, Any]]]:
    return {"testsvc": [eps("testsvc", ([ep_port(8080)], [endpoint(ip, node=n, ready=ready) for ip, n in items]))]}


# -- ClusterIP mode: which endpoint port serves which Service port ---------------------------------------------

def test_numeric_target_port_selects_the_endpoint_port_and_the_pool_default_port() -> None:
    svc = service("web", ports=[port(80, name="http", target=8080), port(443, name="https", target=8443)])
    endpoints = {"web": [eps("web", ([ep_port(8080, name="http"), ep_port(8443, name="https")],
                                     [endpoint("10.34.1.5")]))]}
    pools = {p["name"]: p for p in bodies(translate([svc], endpoints), "pool")}
    http, https = pools["S1-AZ1--default-web-TCP-80"], pools["S1-AZ1--default-web-TCP-443"]
    assert (servers(http), http["default_server_port"]) == ([("10.34.1.5", 8080, True)], 8080)
    assert (servers(https), https["default_server_port"]) == ([("10.34.1.5", 8443, True)], 8443)


def test_named_target_port_takes_the_endpoint_port_of_the_same_name() -> None:
    svc = service("web", ports=[port(80, name="http", target="web-port")])
    endpoints = {"web": [eps("web", ([ep_port(9376, name="http")], [endpoint("10.34.1.5")]))]}
    pool = one(translate([svc], endpoints), "pool")
    assert servers(pool) == [("10.34.1.5", 9376, True)]
    assert pool["default_server_port"] == 9376


def test_endpoint_port_of_another_protocol_does_not_serve_the_pool() -> None:
    svc = service("dns", ports=[port(53, name="dns-udp", protocol="UDP")])
    endpoints = {"dns": [eps("dns", ([ep_port(53, name="dns-tcp", protocol="TCP")], [endpoint("10.34.1.5")]))]}
    assert one(translate([svc], endpoints), "pool")["servers"] == []


def test_the_same_address_in_two_slices_is_one_server_enabled_if_any_copy_is_ready() -> None:
    svc = service("web", ports=[port(80)])
    endpoints = {"web": [eps("web", ([ep_port(80)], [endpoint("10.34.1.5", ready=False)]),
                             ([ep_port(80)], [endpoint("10.34.1.5"), endpoint("10.34.1.4")]))]}
    assert servers(one(translate([svc], endpoints), "pool")) == [("10.34.1.4", 80, True), ("10.34.1.5", 80, True)]


def test_core_endpoints_and_endpoint_slices_read_alike() -> None:
    svc = service("web", ports=[port(80)])
    core = {"web": [{"service": "web", "slices": [{"ports": [ep_port(80)], "endpoints": [endpoint("10.34.1.5")]}]}]}
    assert servers(one(translate([svc], core), "pool")) == [("10.34.1.5", 80, True)]


# -- 10. NodePort mode -----------------------------------------------------------------------------------------

def test_nodeport_mode_puts_every_node_on_the_node_port_with_placement_network() -> None:
    result = translate([np_service()], nodes=[node("node1", "10.1.1.2")], context=NODEPORT)
    pool = one(result, "pool")
    assert pool["servers"] == [{"ip": {"addr": "10.1.1.2", "type": "V4"}, "port": 31030, "enabled": True,
                                "external_uuid": "10.1.1.2:31030", "server_node": "node1"}]
    assert pool["default_server_port"] == 31030
    assert pool["placement_networks"] == [{"network_ref": "/api/network/?name=net123",
                                           "subnet": {"ip_addr": {"addr": "10.1.1.0", "type": "V4"}, "mask": 24}}]


def test_nodeport_mode_with_the_seed_nodes_lists_all_three() -> None:
    pool = one(translate([service("hackazon", ports=[port(80, node_port=31080)])],
                         context=ctx(service_type="NodePort")), "pool")
    assert servers(pool) == [("10.10.30.11", 31080, True), ("10.10.30.12", 31080, True), ("10.10.30.13", 31080, True)]


def test_nodeport_mode_without_node_port_has_no_servers_and_a_problem() -> None:
    result = translate([service("testsvc", ports=[port(8080)])], nodes=SEED_NODES, context=NODEPORT)
    assert one(result, "pool")["servers"] == []
    assert [(p.field, p.reason) for p in result.problems] == [("spec.ports[0].nodePort", "NoNodePort")]


# -- 11. externalTrafficPolicy: Local ------------------------------------------------------------------------

def test_external_traffic_policy_local_keeps_only_nodes_with_a_ready_endpoint() -> None:
    nodes = [node("node1", "10.1.1.2"), node("node2", "10.1.1.3")]
    endpoints = pod_eps(("1.1.1.1", "node1"))
    cluster = one(translate([np_service()], endpoints, nodes=nodes, context=NODEPORT), "pool")
    assert [s[0] for s in servers(cluster)] == ["10.1.1.2", "10.1.1.3"]
    local = one(translate([np_service(etp="Local")], endpoints, nodes=nodes, context=NODEPORT), "pool")
    assert servers(local) == [("10.1.1.2", 31030, True)]


def test_external_traffic_policy_local_ignores_nodes_whose_endpoints_are_not_ready() -> None:
    nodes = [node("node1", "10.1.1.2")]
    local = translate([np_service(etp="Local")], pod_eps(("1.1.1.1", "node1"), ready=False), nodes=nodes,
                      context=NODEPORT)
    assert one(local, "pool")["servers"] == []


# -- 12. skip NodePort -----------------------------------------------------------------------------------------

def test_skip_nodeport_annotation_uses_pod_addresses_and_removing_it_node_addresses() -> None:
    nodes = [node("node1", "10.1.1.2")]
    endpoints = pod_eps(("1.1.1.1", "node1"))
    skipped = one(translate([np_service(annotations={SKIP: "true"})], endpoints, nodes=nodes, context=NODEPORT), "pool")
    assert servers(skipped) == [("1.1.1.1", 8080, True)]
    assert skipped["default_server_port"] == 8080
    again = one(translate([np_service()], endpoints, nodes=nodes, context=NODEPORT), "pool")
    assert servers(again) == [("10.1.1.2", 31030, True)]


# -- 13. node selector -----------------------------------------------------------------------------------------

def test_node_port_selector_leaves_unlabelled_nodes_out() -> None:
    selecting = ctx(cluster="cluster", service_type="NodePort", node_port_selector=("my-node", "true"))
    unlabelled = translate([np_service()], nodes=[node("node1", "10.1.1.2")], context=selecting)
    assert one(unlabelled, "pool")["servers"] == []
    labelled = translate([np_service()], nodes=[node("node1", "10.1.1.2", labels={"my-node": "true"})],
                         context=selecting)
    assert servers(one(labelled, "pool")) == [("10.1.1.2", 31030, True)]


# -- dual stack --------------------------------------------------------------------------------------------------

DUAL = ctx(vip_v6cidr=ipaddress.IPv6Network("fd00:25::/64"), ip_versions=frozenset({4, 6}))  # ip_family V4_V6


def test_dual_stack_service_gets_a_v4_v6_vip_and_servers_of_both_families() -> None:
    svc = service("web", ports=[port(80)], families=["IPv4", "IPv6"])
    endpoints = {"web": [eps("web", ([ep_port(80)], [endpoint("10.34.1.5")])),
                         eps("web", ([ep_port(80)], [endpoint("fd00:34::5")]), address_type="IPv6")]}
    result = translate([svc], endpoints, context=DUAL)
    vip = one(result, "vsvip")["vip"][0]
    assert vip["auto_allocate_ip_type"] == "V4_V6"
    assert vip["ipam_network_subnet"]["subnet6"] == {"ip_addr": {"addr": "fd00:25::", "type": "V6"}, "mask": 64}
    assert [(s["ip"]["addr"], s["ip"]["type"]) for s in one(result, "pool")["servers"]] == [
        ("10.34.1.5", "V4"), ("fd00:34::5", "V6")]


def test_ipv4_service_ignores_ipv6_endpoints_and_keeps_a_v4_vip() -> None:
    svc = service("web", ports=[port(80)])
    endpoints = {"web": [eps("web", ([ep_port(80)], [endpoint("10.34.1.5"), endpoint("fd00:34::5")]))]}
    result = translate([svc], endpoints, context=DUAL)
    assert "auto_allocate_ip_type" not in one(result, "vsvip")["vip"][0]
    assert [s[0] for s in servers(one(result, "pool"))] == ["10.34.1.5"]


def test_dual_stack_nodeport_lists_each_node_once_per_family() -> None:
    svc = service("web", ports=[port(80, node_port=30080)], families=["IPv4", "IPv6"])
    nodes = [node("n1", ["10.1.1.2", "fd00:1::2"]), node("n2", ["10.1.1.3"])]
    pool = one(translate([svc], nodes=nodes, context=ctx(service_type="NodePort", ip_versions=frozenset({4, 6}))), "pool")
    assert [s[0] for s in servers(pool)] == ["10.1.1.2", "10.1.1.3", "fd00:1::2"]


def test_ip_family_v4_keeps_a_dual_stack_service_to_ipv4_servers() -> None:
    svc = service("web", ports=[port(80)], families=["IPv4", "IPv6"])
    endpoints = {"web": [eps("web", ([ep_port(80)], [endpoint("10.34.1.5")])),
                         eps("web", ([ep_port(80)], [endpoint("fd00:34::5")]), address_type="IPv6")]}
    result = translate([svc], endpoints, context=ctx(vip_v6cidr=ipaddress.IPv6Network("fd00:25::/64")))
    assert [s["ip"]["addr"] for s in one(result, "pool")["servers"]] == ["10.34.1.5"]


def test_ip_family_v6_takes_ipv6_servers_of_a_service_listing_no_families() -> None:
    svc = service("web", ports=[port(80)], families=[])  # a server without dual stack lists no ipFamilies
    endpoints = {"web": [eps("web", ([ep_port(80)], [endpoint("10.34.1.5"), endpoint("fd00:34::5")]))]}
    result = translate([svc], endpoints, context=ctx(ip_versions=frozenset({6})))
    assert [s["ip"]["addr"] for s in one(result, "pool")["servers"]] == ["fd00:34::5"]


def test_ip_family_v6_node_port_servers_are_the_nodes_ipv6_addresses() -> None:
    nodes = [node("node1", "10.1.1.2"), node("node2", ["10.1.1.3", "fd00:1::3"])]
    result = translate([np_service(families=["IPv6"])], nodes=nodes,
                       context=ctx(cluster="cluster", service_type="NodePort", ip_versions=frozenset({6})))
    assert servers(one(result, "pool")) == [("fd00:1::3", 31030, True)]
