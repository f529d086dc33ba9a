"""L4 translation of the acceptance scenarios 1-9 of reference §6.2, and of bad input.

AKO's tests use namespace `red-ns`, cluster `cluster` and EndpointSlices with addresses 1.1.1.x;
so do these, through `translate_l4`, asserting on the bodies that would reach the controller.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from akod.model.l4 import l4_key, translate_l4
from tests.unit.test_l4_seed import (
    bodies,
    ctx,
    endpoint,
    ep_port,
    eps,
    one,
    port,
    problems,
    servers,
    service,
    translate,
)

CONTEXT = ctx(cluster="cluster", tcp_network_profile="System-TCP-Fast-Path", vip_network="", vip_cidr=None,
              vrf="")
SHARED = "ako.vmware.com/enable-shared-vip"
LB_IP = "ako.vmware.com/load-balancer-ip"


def red(name: str, **kwargs: Any) -> dict[str, Any]:
    return service(name, namespace="red-ns", **kwargs)


def single_eps(svc: str, number: int, *ips: str, name: str = "") -> dict[str, list[dict[str, Any]]]:
    return {svc: [eps(svc, ([ep_port(number, name=name)], [endpoint(ip) for ip in ips]))]}


# -- 1. single port -------------------------------------------------------------------------------------

def test_single_port_service_gets_a_vs_and_one_pool_with_its_endpoint() -> None:
    svc = red("testsvc", ports=[port(8080)])
    result = translate([svc], single_eps("testsvc", 8080, "1.1.1.1"), context=CONTEXT)
    assert result.vs_name == "cluster--red-ns-testsvc"
    assert {o.tenant for o in result.objects} == {"admin"}
    vs = one(result, "virtualservice")
    assert [s["port"] for s in vs["services"]] == [8080]
    assert servers(one(result, "pool")) == [("1.1.1.1", 8080, True)]


def test_service_turned_clusterip_has_no_key_and_its_key_translates_to_nothing() -> None:
    svc = red("testsvc", ports=[port(8080)])
    key = l4_key(service=svc, namespace_labels={}, ctx=CONTEXT)
    assert key is not None
    as_clusterip = {**svc, "type": "ClusterIP"}
    assert l4_key(service=as_clusterip, namespace_labels={}, ctx=CONTEXT) is None
    gone = translate_l4(key=key, services=[], endpoints={}, nodes=[], ctx=CONTEXT)
    assert gone.objects == () and gone.vs_name == "cluster--red-ns-testsvc"
    back = translate_l4(key=key, services=[svc], endpoints={}, nodes=[], ctx=CONTEXT)
    assert [o.obj_type for o in back.objects] == ["vsvip", "pool", "l4policyset", "virtualservice"]


# -- 2. multi port ----------------------------------------------------------------------------------------

def multiport() -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    svc = red("testsvcmulti", ports=[port(8080, name="foo0"), port(8081, name="foo1"), port(8082, name="foo2")])
    slices = eps("testsvcmulti",
                 ([ep_port(8080, name="foo0")], [endpoint(f"1.1.1.{i}") for i in (1, 2, 3)]),
                 ([ep_port(8081, name="foo1")], [endpoint(f"1.1.1.{i}") for i in (4, 5)]),
                 ([ep_port(8082, name="foo2")], [endpoint("1.1.1.6")]))
    return svc, {"testsvcmulti": [slices]}


def test_multi_port_service_gets_one_pool_per_port_and_one_policy() -> None:
    svc, endpoints = multiport()
    result = translate([svc], endpoints, context=CONTEXT)
    pools = bodies(result, "pool")
    assert [p["name"] for p in pools] == [f"cluster--red-ns-testsvcmulti-TCP-808{i}" for i in range(3)]
    assert [len(p["servers"]) for p in pools] == [3, 2, 1]
    assert [p["servers"][0]["ip"]["addr"] for p in pools] == ["1.1.1.1", "1.1.1.4", "1.1.1.6"]
    assert len(bodies(result, "l4policyset")) == 1
    vs = one(result, "virtualservice")
    assert vs["application_profile_ref"] == "/api/applicationprofile/?name=System-L4-Application"
    assert vs["network_profile_ref"] == "/api/networkprofile/?name=System-TCP-Fast-Path"


def test_policy_has_one_rule_per_port_selecting_its_pool() -> None:
    svc, endpoints = multiport()
    rules = one(translate([svc], endpoints, context=CONTEXT), "l4policyset")["l4_connection_policy"]["rules"]
    assert [(r["index"], r["name"], r["match"]["port"]["ports"], r["match"]["protocol"]["protocol"],
             r["action"]["select_pool"]["pool_ref"]) for r in rules] == [
        (i, f"cluster--red-ns-testsvcmulti-TCP-808{i}", [8080 + i], "PROTOCOL_TCP",
         f"/api/pool/?name=cluster--red-ns-testsvcmulti-TCP-808{i}") for i in range(3)]


# -- 3. naming, 5. what the VS refers to ---------------------------------------------------------------------

def test_l4_naming_convention() -> None:
    result = translate([red("testsvc", ports=[port(8080)])], context=CONTEXT)
    names = {o.obj_type: o.name for o in result.objects}
    assert names["virtualservice"] == "cluster--red-ns-testsvc"
    assert names["vsvip"] == names["virtualservice"] == names["l4policyset"]
    assert "cluster--red-ns-testsvc-TCP-808" in names["pool"]
    assert one(result, "virtualservice")["l4_policies"][0]["l4_policy_set_ref"].endswith("=cluster--red-ns-testsvc")


# -- 4. endpoint changes ---------------------------------------------------------------------------------

def test_endpoint_scale_changes_only_the_pool_checksum() -> None:
    svc = red("testsvc", ports=[port(8080)])
    before = translate([svc], single_eps("testsvc", 8080, "1.2.3.4"), context=CONTEXT)
    after = translate([svc], single_eps("testsvc", 8080, "1.2.3.4", "1.2.3.5"), context=CONTEXT)
    assert [s[0] for s in servers(one(after, "pool"))] == ["1.2.3.4", "1.2.3.5"]
    changed = [o.obj_type for o, n in zip(before.objects, after.objects, strict=True) if o.checksum != n.checksum]
    assert changed == ["pool"]


def test_not_ready_and_terminating_endpoints_are_disabled_servers() -> None:
    svc = red("testsvc", ports=[port(8080)])
    endpoints = {"testsvc": [eps("testsvc", ([ep_port(8080)], [
        endpoint("1.1.1.1"), endpoint("1.1.1.2", ready=False), endpoint("1.1.1.3", terminating=True)]))]}
    assert servers(one(translate([svc], endpoints, context=CONTEXT), "pool")) == [
        ("1.1.1.1", 8080, True), ("1.1.1.2", 8080, False), ("1.1.1.3", 8080, False)]


def test_service_without_endpoints_gets_an_empty_pool() -> None:
    assert one(translate([red("testsvc", ports=[port(8080)])], context=CONTEXT), "pool")["servers"] == []


# -- 7. preferred IP -----------------------------------------------------------------------------------------

def test_spec_load_balancer_ip_becomes_the_vip_address() -> None:
    result = translate([red("testsvc", lb_ip="80.80.80.80")], context=CONTEXT)
    assert one(result, "vsvip")["vip"][0]["ip_address"] == {"addr": "80.80.80.80", "type": "V4"}


def test_preferred_ip_inside_the_vip_network_is_requested_from_it() -> None:
    result = translate([service("hackazon", lb_ip="10.10.25.77")])
    vip = one(result, "vsvip")["vip"][0]
    assert vip["ip_address"] == {"addr": "10.10.25.77", "type": "V4"}
    assert vip["ipam_network_subnet"]["network_ref"] == "/api/network/?name=AVI_FRONTEND_3025"


def test_load_balancer_ip_annotation_wins_over_the_spec_field() -> None:
    svc = service("hackazon", lb_ip="10.10.25.77", annotations={LB_IP: "10.10.25.88"})
    assert one(translate([svc]), "vsvip")["vip"][0]["ip_address"]["addr"] == "10.10.25.88"


def test_banana_as_load_balancer_ip_is_a_problem_on_the_annotation_and_nothing_is_created() -> None:
    result = translate([service("hackazon", annotations={LB_IP: "banana"})])
    assert result.objects == ()
    assert problems(result) == [
        ("hackazon", "metadata.annotations[ako.vmware.com/load-balancer-ip]", "InvalidLoadBalancerIP")]
    assert result.problems[0].obj.kind == "Service" and result.problems[0].obj.namespace == "default"


def test_preferred_ip_outside_the_vip_network_is_a_problem_on_spec_field() -> None:
    result = translate([service("hackazon", lb_ip="10.10.26.5")])
    assert result.objects == ()
    assert problems(result) == [("hackazon", "spec.loadBalancerIP", "LoadBalancerIPOutsideVipNetwork")]
    assert "10.10.25.0/24" in result.problems[0].message


@pytest.mark.parametrize(("address", "field", "annotations", "words"), [
    ("10.10.25.0", "spec.loadBalancerIP", None, "network address"),
    ("10.10.25.255", "spec.loadBalancerIP", None, "broadcast address"),
    ("10.10.25.255", "metadata.annotations[ako.vmware.com/load-balancer-ip]", True, "broadcast address"),
])
def test_the_vip_networks_network_or_broadcast_address_is_refused_on_its_field(
        address: str, field: str, annotations: bool | None, words: str) -> None:
    svc = (service("hackazon", annotations={LB_IP: address}) if annotations
           else service("hackazon", lb_ip=address))
    result = translate([svc])
    assert result.objects == ()
    assert problems(result) == [("hackazon", field, "LoadBalancerIPReserved")]
    assert words in result.problems[0].message and "10.10.25.0/24" in result.problems[0].message


def test_the_ipv6_vip_networks_subnet_router_anycast_address_is_refused_and_a_host_address_is_fine() -> None:
    context = ctx(vip_v6cidr=ipaddress.ip_network("fd00:25::/64"))
    refused = translate([service("hackazon", lb_ip="fd00:25::")], context=context)
    assert problems(refused) == [("hackazon", "spec.loadBalancerIP", "LoadBalancerIPReserved")]
    assert "subnet-router anycast" in refused.problems[0].message
    fine = translate([service("hackazon", lb_ip="fd00:25::1")], context=context)
    assert fine.problems == ()


@pytest.mark.parametrize("address", ["10.10.25.1", "10.10.25.254"])
def test_the_first_and_last_host_addresses_of_the_vip_network_are_fine(address: str) -> None:
    result = translate([service("hackazon", lb_ip=address)])
    assert result.problems == ()
    assert one(result, "vsvip")["vip"][0]["ip_address"]["addr"] == address


def test_a_huge_load_balancer_ip_annotation_is_quoted_cut() -> None:
    result = translate([service("hackazon", annotations={LB_IP: "x" * 200_000})])
    (problem,) = result.problems
    assert "(200000 characters)" in problem.message and len(problem.message) < 400


# -- 8 is in test_l4_select.py; 9. shared VIP --------------------------------------------------------------

def shared_pair() -> list[dict[str, Any]]:
    return [red("sharedvip-svc-01", ports=[port(8080, protocol="TCP")], annotations={SHARED: "shared-vip-key-1"}),
            red("sharedvip-svc-02", ports=[port(8080, protocol="UDP")], annotations={SHARED: "shared-vip-key-1"})]


def test_shared_vip_with_tcp_and_udp_is_one_vs_with_two_pools_and_a_udp_override() -> None:
    result = translate(shared_pair(), context=CONTEXT)
    assert result.vs_name == "cluster--red-ns-shared-vip-key-1"
    assert [p["name"] for p in bodies(result, "pool")] == [
        "cluster--red-ns-sharedvip-svc-01-shared-vip-key-1-TCP-8080",
        "cluster--red-ns-sharedvip-svc-02-shared-vip-key-1-UDP-8080"]
    vs = one(result, "virtualservice")
    assert vs["network_profile_ref"] == "/api/networkprofile/?name=System-TCP-Fast-Path"
    assert vs["services"] == [
        {"port": 8080, "port_range_end": 8080, "enable_ssl": False, "enable_http2": False},
        {"port": 8080, "port_range_end": 8080, "enable_ssl": False, "enable_http2": False,
         "override_network_profile_ref": "/api/networkprofile/?name=System-UDP-Fast-Path"}]
    rules = one(result, "l4policyset")["l4_connection_policy"]["rules"]
    assert [r["match"]["protocol"]["protocol"] for r in rules] == ["PROTOCOL_TCP", "PROTOCOL_UDP"]
    assert json.loads(vs["service_metadata"])["namespace_svc_name"] == [
        "red-ns/sharedvip-svc-01", "red-ns/sharedvip-svc-02"]
    pool_health = [p["health_monitor_refs"] for p in bodies(result, "pool")]
    assert pool_health == [["/api/healthmonitor/?name=System-TCP"], ["/api/healthmonitor/?name=System-UDP"]]


def test_shared_vip_losing_its_tcp_service_becomes_udp_only_and_back() -> None:
    tcp, udp = shared_pair()
    alone = translate([udp], context=CONTEXT)
    assert len(bodies(alone, "pool")) == 1
    assert one(alone, "virtualservice")["network_profile_ref"] == "/api/networkprofile/?name=System-UDP-Fast-Path"
    assert "override_network_profile_ref" not in one(alone, "virtualservice")["services"][0]
    assert len(bodies(translate([tcp, udp], context=CONTEXT), "pool")) == 2


def test_shared_vip_markers_name_the_group_like_ako() -> None:
    result = translate(shared_pair(), context=CONTEXT)
    assert one(result, "virtualservice")["markers"] == [
        {"key": "clustername", "values": ["cluster"]}, {"key": "Namespace", "values": ["red-ns"]},
        {"key": "GatewayName", "values": ["shared-vip-key-1"]}]
    assert {"key": "ServiceName", "values": ["sharedvip-svc-02"]} in bodies(result, "pool")[1]["markers"]


def test_shared_vip_services_asking_different_ips_are_each_a_problem_and_nothing_is_created() -> None:
    tcp, udp = shared_pair()
    tcp["load_balancer_ip"] = "10.10.10.1"
    udp["annotations"][LB_IP] = "10.10.10.2"
    result = translate([tcp, udp], context=CONTEXT)
    assert result.objects == ()
    assert sorted(problems(result)) == [
        ("sharedvip-svc-01", "spec.loadBalancerIP", "SharedVipIPConflict"),
        ("sharedvip-svc-02", "metadata.annotations[ako.vmware.com/load-balancer-ip]", "SharedVipIPConflict")]


def test_shared_vip_service_without_ip_follows_the_one_that_names_it() -> None:
    tcp, udp = shared_pair()
    udp["load_balancer_ip"] = "10.10.10.2"
    result = translate([tcp, udp], context=CONTEXT)
    assert result.problems == ()
    assert one(result, "vsvip")["vip"][0]["ip_address"]["addr"] == "10.10.10.2"


def test_shared_vip_port_used_twice_leaves_the_newer_service_out() -> None:
    first = red("svc-a", ports=[port(8080)], annotations={SHARED: "k"}, created="2026-01-01T00:00:00Z")
    second = red("svc-b", ports=[port(9090), port(8080)], annotations={SHARED: "k"}, created="2026-02-01T00:00:00Z")
    result = translate([second, first], context=CONTEXT)
    assert problems(result) == [("svc-b", "spec.ports[1].port", "DuplicateListenerPort")]
    assert [p["name"] for p in bodies(result, "pool")] == ["cluster--red-ns-svc-a-k-TCP-8080"]
    assert result.served == ("svc-a",)
    assert result.hostnames["svc-b"] == ""


def test_same_port_with_different_protocols_is_no_conflict() -> None:
    assert translate(shared_pair(), context=CONTEXT).problems == ()


def test_name_clash_between_two_owners_keeps_the_older() -> None:
    older = service("c", namespace="a-b", created="2026-01-01T00:00:00Z")
    newer = service("b-c", namespace="a", created="2026-03-01T00:00:00Z")
    key = l4_key(service=older, namespace_labels={}, ctx=CONTEXT)
    assert key == l4_key(service=newer, namespace_labels={}, ctx=CONTEXT) == "l4:cluster--a-b-c"
    result = translate_l4(key=key, services=[newer, older], endpoints={}, nodes=[], ctx=CONTEXT)
    assert problems(result) == [("b-c", "metadata.name", "VirtualServiceNameClash")]
    assert result.served == ("c",)
    assert [p["name"] for p in bodies(result, "pool")] == ["cluster--a-b-c-TCP-80"]


# -- bad input ---------------------------------------------------------------------------------------------

def test_sctp_port_without_controller_support_is_a_problem_and_the_service_is_not_served() -> None:
    svc = red("testsvc", ports=[port(8080), port(9000, protocol="SCTP")])
    result = translate([svc], context=CONTEXT)
    assert result.objects == ()
    assert problems(result) == [("testsvc", "spec.ports[1].protocol", "UnsupportedProtocol")]
    assert "22.1.1" in result.problems[0].message


def test_sctp_port_with_controller_support_uses_the_sctp_profiles() -> None:
    svc = red("testsvc", ports=[port(8080), port(9000, protocol="SCTP")])
    result = translate([svc], context=ctx(cluster="cluster", sctp_supported=True))
    assert result.problems == ()
    vs = one(result, "virtualservice")
    assert vs["services"][1]["override_network_profile_ref"] == "/api/networkprofile/?name=System-SCTP-Proxy"
    monitors = {p["name"]: p["health_monitor_refs"] for p in bodies(result, "pool")}
    assert monitors["cluster--red-ns-testsvc-SCTP-9000"] == ["/api/healthmonitor/?name=System-SCTP"]
    assert monitors["cluster--red-ns-testsvc-TCP-8080"] == ["/api/healthmonitor/?name=System-TCP"]


def test_sctp_service_in_a_shared_vip_leaves_only_itself_out() -> None:
    tcp, _ = shared_pair()
    sctp = red("sharedvip-svc-03", ports=[port(7000, protocol="SCTP")], annotations={SHARED: "shared-vip-key-1"})
    result = translate([tcp, sctp], context=CONTEXT)
    assert problems(result) == [("sharedvip-svc-03", "spec.ports[0].protocol", "UnsupportedProtocol")]
    assert result.served == ("sharedvip-svc-01",)


def test_vs_name_over_255_characters_is_a_problem_on_the_name() -> None:
    svc = red("x" * 250)
    result = translate([svc], context=CONTEXT)
    assert result.objects == ()
    assert problems(result) == [("x" * 250, "metadata.name", "NameTooLong")]


def test_shared_vip_key_making_the_name_too_long_is_a_problem_on_the_annotation() -> None:
    svc = red("svc", annotations={SHARED: "k" * 300})
    result = translate([svc], context=CONTEXT)
    assert result.objects == ()
    assert problems(result) == [("svc", "metadata.annotations[ako.vmware.com/enable-shared-vip]", "NameTooLong")]


def test_pool_name_over_255_characters_is_a_problem_on_the_service_name() -> None:
    svc = red("y" * 232, ports=[port(8080)])  # VS name 250, pool name 259
    result = translate([svc], context=CONTEXT)
    assert result.objects == ()
    assert problems(result) == [("y" * 232, "metadata.name", "NameTooLong")]


def test_disable_traffic_annotation_turns_traffic_off() -> None:
    svc = red("testsvc", annotations={"ako.vmware.com/disable-traffic": "true"})
    assert one(translate([svc], context=CONTEXT), "virtualservice")["traffic_enabled"] is False
