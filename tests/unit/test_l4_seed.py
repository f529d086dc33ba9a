"""The seed scenario's LoadBalancer Services as L4 virtual services, and the builders the L4 tests share.

Seed: hackazon (port 80, one endpoint) and kuard (port 8080, two endpoints) in `default`, nodes
site1-az1-k8s-master01/worker01/worker02 at 10.10.30.11-13, VIP network AVI_FRONTEND_3025.
Bodies are the trimmed shapes of `akod.kube.trimming`.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace
from typing import Any

from akod.model.l4 import L4Context, L4Result, l4_key, translate_l4

CLUSTER = "S1-AZ1"

CTX = L4Context(
    cluster=CLUSTER, tenant="admin", cloud="Default-Cloud", se_group="S1-AZ1-SE-Group", vrf="VRF_AZ1",
    vip_network="AVI_FRONTEND_3025", vip_cidr=ipaddress.IPv4Network("10.10.25.0/24"), vip_v6cidr=None,
    default_domain="avi.iberia.local", auto_fqdn="default", service_type="ClusterIP", node_port_selector=None,
    default_lb_controller=True, namespace_selector=None, blocked_namespaces=frozenset(),
    tcp_network_profile="System-TCP-Proxy", sctp_supported=False,
)


def ctx(**changes: Any) -> L4Context:
    return replace(CTX, **changes)


def port(number: int, *, name: str = "", protocol: str = "TCP", target: int | str | None = None,
         node_port: int | None = None) -> dict[str, Any]:
    return {"name": name, "protocol": protocol, "port": number,
            "target_port": number if target is None else target, "node_port": node_port}


def service(name: str, *, namespace: str = "default", ports: list[dict[str, Any]] | None = None,
            annotations: dict[str, str] | None = None, type_: str = "LoadBalancer", lb_class: str = "",
            lb_ip: str = "", etp: str = "Cluster", families: list[str] | None = None,
            created: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}", "created": created,
        "annotations": dict(annotations or {}), "type": type_, "load_balancer_class": lb_class,
        "load_balancer_ip": lb_ip, "external_traffic_policy": etp,
        "ip_families": ["IPv4"] if families is None else families,
        "ports": ports if ports is not None else [port(80)], "lb_ingress": [],
    }


def endpoint(ip: str, *, node: str = "", ready: bool = True, terminating: bool = False) -> dict[str, Any]:
    return {"ip": ip, "ready": ready, "terminating": terminating, "node": node}


def eps(svc: str, *slices: tuple[list[dict[str, Any]], list[dict[str, Any]]],
        address_type: str = "IPv4") -> dict[str, Any]:
    """An EndpointSlice-shaped body: `slices` are (ports, endpoints) pairs."""
    return {"service": svc, "address_type": address_type,
            "slices": [{"ports": ports, "endpoints": endpoints} for ports, endpoints in slices]}


def ep_port(number: int, *, name: str = "", protocol: str = "TCP") -> dict[str, Any]:
    return {"name": name, "port": number, "protocol": protocol}


def node(name: str, ip: str | list[str], *, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "created": "2026-01-01T00:00:00Z", "labels": dict(labels or {}), "annotations": {},
            "internal_ips": [ip] if isinstance(ip, str) else ip, "pod_cidrs": []}


SEED_NODES = [
    node("site1-az1-k8s-master01", "10.10.30.11"),
    node("site1-az1-k8s-worker01", "10.10.30.12"),
    node("site1-az1-k8s-worker02", "10.10.30.13"),
]


def hackazon() -> dict[str, Any]:
    return service("hackazon", ports=[port(80, node_port=31080)])


def hackazon_endpoints() -> dict[str, list[dict[str, Any]]]:
    return {"hackazon": [eps("hackazon", ([ep_port(80)], [endpoint("10.34.1.5", node="site1-az1-k8s-worker01")]))]}


def kuard() -> dict[str, Any]:
    return service("kuard", ports=[port(8080, node_port=30080)])


def kuard_endpoints() -> dict[str, list[dict[str, Any]]]:
    return {"kuard": [eps("kuard", ([ep_port(8080)], [endpoint("10.34.2.7", node="site1-az1-k8s-worker02"),
                                                      endpoint("10.34.1.6", node="site1-az1-k8s-worker01")]))]}


def translate(services: list[dict[str, Any]], endpoints: dict[str, list[dict[str, Any]]] | None = None, *,
              nodes: list[dict[str, Any]] | None = None, context: L4Context = CTX) -> L4Result:
    """Translate the key of the first Service (all must share it)."""
    key = l4_key(service=services[0], namespace_labels={}, ctx=context)
    assert key is not None
    return translate_l4(key=key, services=services, endpoints=endpoints or {},
                        nodes=SEED_NODES if nodes is None else nodes, ctx=context)


def bodies(result: L4Result, obj_type: str) -> list[dict[str, Any]]:
    return [o.body for o in result.objects if o.obj_type == obj_type]


def one(result: L4Result, obj_type: str) -> dict[str, Any]:
    (body,) = bodies(result, obj_type)
    return body


def servers(pool: dict[str, Any]) -> list[tuple[str, int, bool]]:
    return [(s["ip"]["addr"], s["port"], s["enabled"]) for s in pool["servers"]]


def problems(result: L4Result) -> list[tuple[str, str, str]]:
    return [(p.obj.name, p.field, p.reason) for p in result.problems]


# -- the seed itself ----------------------------------------------------------------------------------

def test_seed_hackazon_becomes_vsvip_pool_policy_and_vs_in_rank_order() -> None:
    result = translate([hackazon()], hackazon_endpoints())
    assert [(o.obj_type, o.name) for o in result.objects] == [
        ("vsvip", "S1-AZ1--default-hackazon"),
        ("pool", "S1-AZ1--default-hackazon-TCP-80"),
        ("l4policyset", "S1-AZ1--default-hackazon"),
        ("virtualservice", "S1-AZ1--default-hackazon"),
    ]
    assert [o.rank for o in result.objects] == sorted(o.rank for o in result.objects)
    assert result.problems == ()
    assert result.vs_name == "S1-AZ1--default-hackazon"
    assert result.hostnames == {"hackazon": "hackazon.default.avi.iberia.local"}


def test_seed_hackazon_vsvip_asks_for_an_address_in_the_vip_network_with_its_fqdn() -> None:
    vsvip = one(translate([hackazon()], hackazon_endpoints()), "vsvip")
    assert vsvip["vip"] == [{"vip_id": "0", "auto_allocate_ip": True, "ipam_network_subnet": {
        "network_ref": "/api/network/?name=AVI_FRONTEND_3025",
        "subnet": {"ip_addr": {"addr": "10.10.25.0", "type": "V4"}, "mask": 24}}}]
    assert vsvip["dns_info"] == [{"fqdn": "hackazon.default.avi.iberia.local"}]
    assert vsvip["vrf_context_ref"] == "/api/vrfcontext/?name=VRF_AZ1"
    assert "created_by" not in vsvip
    assert vsvip["markers"] == [{"key": "clustername", "values": [CLUSTER]}]


def test_seed_hackazon_pool_has_its_one_endpoint_on_the_target_port() -> None:
    pool = one(translate([hackazon()], hackazon_endpoints()), "pool")
    assert pool["servers"] == [{"ip": {"addr": "10.34.1.5", "type": "V4"}, "port": 80, "enabled": True,
                                "external_uuid": "10.34.1.5:80", "server_node": "site1-az1-k8s-worker01"}]
    assert pool["default_server_port"] == 80
    assert pool["health_monitor_refs"] == ["/api/healthmonitor/?name=System-TCP"]
    assert pool["vrf_ref"] == "/api/vrfcontext/?name=VRF_AZ1"
    assert pool["created_by"] == "ako-S1-AZ1"
    assert json.loads(pool["service_metadata"]) == {"namespace_svc_name": ["default/hackazon"],
                                                    "hostnames": ["hackazon.default.avi.iberia.local"]}
    assert pool["markers"] == [{"key": "clustername", "values": [CLUSTER]}, {"key": "Namespace", "values": ["default"]},
                               {"key": "ServiceName", "values": ["hackazon"]}, {"key": "Port", "values": ["80"]}]


def test_seed_hackazon_vs_refers_to_its_vip_and_policy_by_name() -> None:
    vs = one(translate([hackazon()], hackazon_endpoints()), "virtualservice")
    assert vs["vsvip_ref"] == "/api/vsvip/?name=S1-AZ1--default-hackazon"
    assert vs["l4_policies"] == [{"index": 0, "l4_policy_set_ref": "/api/l4policyset/?name=S1-AZ1--default-hackazon"}]
    assert vs["services"] == [{"port": 80, "port_range_end": 80, "enable_ssl": False, "enable_http2": False}]
    assert vs["se_group_ref"] == "/api/serviceenginegroup/?name=S1-AZ1-SE-Group"
    assert vs["application_profile_ref"] == "/api/applicationprofile/?name=System-L4-Application"
    assert vs["network_profile_ref"] == "/api/networkprofile/?name=System-TCP-Proxy"
    assert vs["traffic_enabled"] is True
    assert vs["created_by"] == "ako-S1-AZ1"
    assert json.loads(vs["service_metadata"])["namespace_svc_name"] == ["default/hackazon"]
    assert "cloud_config_cksum" not in vs  # added by AviObject.payload(), never part of the body


def test_seed_kuard_pool_has_both_endpoints_sorted_by_address() -> None:
    pool = one(translate([kuard()], kuard_endpoints()), "pool")
    assert pool["name"] == "S1-AZ1--default-kuard-TCP-8080"
    assert servers(pool) == [("10.34.1.6", 8080, True), ("10.34.2.7", 8080, True)]


def test_translation_is_deterministic_whatever_the_order_of_endpoints() -> None:
    forward = translate([kuard()], kuard_endpoints())
    shuffled = kuard_endpoints()
    shuffled["kuard"][0]["slices"][0]["endpoints"].reverse()
    backward = translate([kuard()], shuffled)
    assert [o.checksum for o in forward.objects] == [o.checksum for o in backward.objects]
    assert [o.payload() for o in forward.objects] == [o.payload() for o in backward.objects]
