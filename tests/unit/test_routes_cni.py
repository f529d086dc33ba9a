"""Pod CIDRs from each CNI's record (akod.model.podcidrs) through the route planner, without any server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from akod.kube.trimming import trim_node
from akod.kube.trimming_cni import trim_block_affinity, trim_cilium_node, trim_host_subnet
from akod.model.podcidrs import CniView, choose_cni, read_source
from akod.model.routes import RoutePlan, plan_routes

CLUSTER = "S1-AZ1"


def node(name: str, ip: str, *, cidrs: list[str] | None = None, annotations: dict[str, str] | None = None,
         created: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    raw = {"metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "1", "creationTimestamp": created,
                        "annotations": annotations or {}},
           "spec": {"podCIDRs": cidrs or []},
           "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}
    return trim_node(raw).body


def block(name: str, node_name: str, cidr: Any, *, state: Any = "confirmed", deleted: Any = "false") -> Any:
    return trim_block_affinity({"metadata": {"name": name, "uid": name, "resourceVersion": "1"},
                                "spec": {"node": node_name, "cidr": cidr, "state": state, "deleted": deleted}})


def cilium(name: str, cidrs: Any) -> Any:
    return trim_cilium_node({"metadata": {"name": name}, "spec": {"ipam": {"podCIDRs": cidrs}}})


def hostsubnet(name: str, host: Any, subnet: Any) -> Any:
    return trim_host_subnet({"metadata": {"name": name}, "host": host, "subnet": subnet})


def plan(cni: str, nodes: list[dict[str, Any]], *records: Any) -> RoutePlan:
    objects: dict[str, dict[tuple[str, str], Any]] = {}
    for r in records:
        objects.setdefault(r.kind, {})[("", r.name)] = r.body
    view = read_source(cni, objects=objects)
    return plan_routes(cluster=CLUSTER, node_bodies=nodes, cni=view)


def routes(p: RoutePlan) -> dict[str, tuple[str, str]]:
    return {r.route_id: (str(r.prefix), str(r.next_hop)) for r in p.routes}


def problems(p: RoutePlan) -> list[tuple[str, str, str, str]]:
    return [(x.obj.kind, x.obj.name, x.field, x.reason) for x in p.problems]


NODES = [node("n1", "10.10.30.11", cidrs=["10.34.0.0/24"]), node("n2", "10.10.30.12", cidrs=["10.34.1.0/24"])]
BLOCKS = [block("n1-10-244-0-0-26", "n1", "10.244.0.0/26"), block("n1-10-244-0-64-26", "n1", "10.244.0.64/26"),
          block("n2-10-244-1-0-26", "n2", "10.244.1.0/26"),
          block("n2-10-244-1-64-26", "n2", "10.244.1.64/26", state="pending")]


def test_calico_confirmed_blocks_give_one_route_each_with_ids_from_their_cidrs() -> None:
    p = plan("calico", NODES, *BLOCKS)
    assert routes(p) == {"S1-AZ1-n1-10.244.0.0-26": ("10.244.0.0/26", "10.10.30.11"),
                         "S1-AZ1-n1-10.244.0.64-26": ("10.244.0.64/26", "10.10.30.11"),
                         "S1-AZ1-n2-10.244.1.0-26": ("10.244.1.0/26", "10.10.30.12")}
    assert p.problems == ()


def test_calico_a_released_or_deleted_block_removes_its_route_only() -> None:
    before = routes(plan("calico", NODES, *BLOCKS))
    released = routes(plan("calico", NODES, *BLOCKS[1:]))
    assert released == {k: v for k, v in before.items() if k != "S1-AZ1-n1-10.244.0.0-26"}
    deleted = routes(plan("calico", NODES, block("n1-10-244-0-0-26", "n1", "10.244.0.0/26", deleted="true"),
                          *BLOCKS[1:]))
    assert deleted == released


def test_calico_next_hop_from_the_ipv4_address_annotation_mask_stripped() -> None:
    annotated = node("n1", "10.10.30.11", annotations={"projectcalico.org/IPv4Address": "192.168.5.11/24"})
    assert routes(plan("calico", [annotated], BLOCKS[0])) == {
        "S1-AZ1-n1-10.244.0.0-26": ("10.244.0.0/26", "192.168.5.11")}


def test_calico_a_bad_address_annotation_is_reported_and_the_internal_ip_is_used() -> None:
    annotated = node("n1", "10.10.30.11", annotations={"projectcalico.org/IPv4Address": "banana/24"})
    p = plan("calico", [annotated], BLOCKS[0])
    assert routes(p) == {"S1-AZ1-n1-10.244.0.0-26": ("10.244.0.0/26", "10.10.30.11")}
    assert problems(p) == [("Node", "n1", "metadata.annotations[projectcalico.org/IPv4Address]", "InvalidNodeIP")]


@pytest.mark.parametrize(("spec", "field"), [
    ({"cidr": "10.244.9.0/33"}, "spec.cidr"), ({"cidr": "not-a-cidr"}, "spec.cidr"), ({"cidr": 42}, "spec.cidr"),
    ({"state": "weird"}, "spec.state"), ({"deleted": "maybe"}, "spec.deleted"), ({"node": ""}, "spec.node"),
])
def test_calico_a_malformed_block_is_an_error_on_the_block_and_costs_only_itself(spec: dict, field: str) -> None:
    args = {"node_name": "n2", "cidr": "10.244.9.0/26", "state": "confirmed", "deleted": "false"}
    args.update({"node_name" if k == "node" else k: v for k, v in spec.items()})
    bad = block("bad-block", args.pop("node_name"), args.pop("cidr"), **args)
    p = plan("calico", NODES, *BLOCKS, bad)
    assert routes(p) == routes(plan("calico", NODES, *BLOCKS))
    assert [(k, n, f) for k, n, f, _ in problems(p)] == [("BlockAffinity", "bad-block", field)]


def test_calico_a_spec_that_is_not_an_object_is_reported() -> None:
    bad = trim_block_affinity({"metadata": {"name": "junk"}, "spec": "garbage"})
    p = plan("calico", NODES, *BLOCKS, bad)
    assert problems(p) == [("BlockAffinity", "junk", "spec", "InvalidBlockAffinity")]
    assert len(p.routes) == 3


def test_calico_a_node_without_a_confirmed_block_gets_no_route_and_a_problem() -> None:
    p = plan("calico", NODES, BLOCKS[0], BLOCKS[3])
    assert set(routes(p)) == {"S1-AZ1-n1-10.244.0.0-26"}
    assert problems(p) == [("Node", "n2", "blockaffinities", "NoPodCIDR")]


def test_calico_the_same_block_on_two_nodes_goes_to_the_older_and_is_reported_on_the_younger_block() -> None:
    p = plan("calico", NODES, BLOCKS[0], block("n2-dup", "n2", "10.244.0.0/26"))
    assert routes(p) == {"S1-AZ1-n1-10.244.0.0-26": ("10.244.0.0/26", "10.10.30.11")}
    assert problems(p) == [("BlockAffinity", "n2-dup", "spec.cidr", "DuplicatePodCIDR")]


def test_the_pod_cidrs_annotation_overrides_every_source() -> None:
    annotated = node("n1", "10.10.30.11", annotations={"ako.vmware.com/pod-cidrs": "10.50.0.0/24"})
    assert routes(plan("calico", [annotated], BLOCKS[0])) == {"S1-AZ1-n1-0": ("10.50.0.0/24", "10.10.30.11")}


def test_cilium_pod_cidrs_come_from_the_cilium_node_else_spec() -> None:
    p = plan("cilium", NODES, cilium("n1", ["10.0.1.0/24", "fd00:1::/112"]))
    assert routes(p) == {"S1-AZ1-n1-0": ("10.0.1.0/24", "10.10.30.11"), "S1-AZ1-n2-0": ("10.34.1.0/24", "10.10.30.12")}
    assert problems(p) == [("Node", "n1", "status.addresses", "NoInternalIP")]  # no IPv6 InternalIP


@pytest.mark.parametrize(("cidrs", "field"), [(["10.0.1.0/24", "garbage"], "spec.ipam.podCIDRs[1]"),
                                              ("10.0.1.0/24", "spec.ipam.podCIDRs")])
def test_cilium_malformed_pod_cidrs_are_errors_on_the_cilium_node(cidrs: Any, field: str) -> None:
    p = plan("cilium", NODES, cilium("n1", cidrs), cilium("n2", ["10.0.2.0/24"]))
    assert ("CiliumNode", "n1", field) in [(k, n, f) for k, n, f, _ in problems(p)]
    assert routes(p)["S1-AZ1-n2-0"] == ("10.0.2.0/24", "10.10.30.12")


def test_ovn_node_subnets_in_both_shapes() -> None:
    old = node("n1", "10.10.30.11", annotations={"k8s.ovn.org/node-subnets": json.dumps({"default": "10.128.0.0/23"})})
    new = node("n2", "10.10.30.12",
               annotations={"k8s.ovn.org/node-subnets": json.dumps({"default": ["10.128.2.0/23", "fd01::/64"]})})
    p = plan("ovn-kubernetes", [old, new])
    assert routes(p) == {"S1-AZ1-n1-0": ("10.128.0.0/23", "10.10.30.11"),
                         "S1-AZ1-n2-0": ("10.128.2.0/23", "10.10.30.12")}
    assert problems(p) == [("Node", "n2", "status.addresses", "NoInternalIP")]


@pytest.mark.parametrize(("value", "field"), [
    ("{not json", "metadata.annotations[k8s.ovn.org/node-subnets]"),
    ('{"other": "10.1.0.0/23"}', "metadata.annotations[k8s.ovn.org/node-subnets]"),
    ('{"default": 7}', "metadata.annotations[k8s.ovn.org/node-subnets].default"),
    ('{"default": ["10.1.0.0/23", "10.1.0.0/99"]}', "metadata.annotations[k8s.ovn.org/node-subnets].default[1]"),
])
def test_ovn_a_bad_annotation_is_an_error_on_the_node_and_other_routes_stay(value: str, field: str) -> None:
    bad = node("n1", "10.10.30.11", annotations={"k8s.ovn.org/node-subnets": value})
    good = node("n2", "10.10.30.12", annotations={"k8s.ovn.org/node-subnets": '{"default": "10.128.2.0/23"}'})
    p = plan("ovn-kubernetes", [bad, good])
    assert routes(p)["S1-AZ1-n2-0"] == ("10.128.2.0/23", "10.10.30.12")
    assert ("Node", "n1", field, "InvalidPodCIDR") in problems(p)
    fields = [f for _, _, f, _ in problems(p)]
    assert len(fields) == len(set(fields))  # one problem per field: the store keeps one per (object, field)


def test_openshift_host_subnets() -> None:
    p = plan("openshift", NODES, hostsubnet("n1", "n1", "10.128.0.0/23"), hostsubnet("n2", "n2", "10.128.2.0/23"),
             hostsubnet("junk", "n2", "10.128.4.0/99"), hostsubnet("nohost", None, "10.128.6.0/23"))
    assert routes(p) == {"S1-AZ1-n1-0": ("10.128.0.0/23", "10.10.30.11"),
                         "S1-AZ1-n2-0": ("10.128.2.0/23", "10.10.30.12")}
    assert sorted(problems(p)) == [("HostSubnet", "junk", "subnet", "InvalidPodCIDR"),
                                   ("HostSubnet", "nohost", "host", "InvalidHostSubnet")]


def test_antrea_next_hop_from_transport_addresses_by_ip_version() -> None:
    annotated = node("n1", "10.10.30.11", cidrs=["10.34.0.0/24"],
                     annotations={"node.antrea.io/transport-addresses": "fd00::11,192.168.7.11"})
    assert routes(plan("antrea", [annotated])) == {"S1-AZ1-n1-0": ("10.34.0.0/24", "192.168.7.11")}
    assert routes(plan("none", [annotated])) == {"S1-AZ1-n1-0": ("10.34.0.0/24", "10.10.30.11")}


def test_auto_chooses_by_served_api_then_node_annotations() -> None:
    plain = [node("n1", "10.0.0.1")]
    ovn = [node("n1", "10.0.0.1", annotations={"k8s.ovn.org/node-subnets": "{}"})]
    antrea = [node("n1", "10.0.0.1", annotations={"node.antrea.io/transport-addresses": "10.0.0.1"})]
    assert choose_cni("auto", served={"ciliumnodes", "blockaffinities"}, node_bodies=plain)[0] == "calico"
    assert choose_cni("auto", served={"ciliumnodes"}, node_bodies=ovn)[0] == "cilium"
    assert choose_cni("auto", served={"hostsubnets"}, node_bodies=plain)[0] == "openshift"
    assert choose_cni("auto", served=set(), node_bodies=ovn)[0] == "ovn-kubernetes"
    assert choose_cni("auto", served=set(), node_bodies=antrea)[0] == "antrea"
    assert choose_cni("auto", served=set(), node_bodies=plain)[0] == "none"
    assert choose_cni("calico", served=set(), node_bodies=plain)[0] == "calico"


def test_no_source_is_the_spec_as_before() -> None:
    assert routes(plan_routes(cluster=CLUSTER, node_bodies=NODES)) == routes(
        plan_routes(cluster=CLUSTER, node_bodies=NODES, cni=CniView(cni="none")))


def test_the_indexed_internal_ip_search_finds_what_a_scan_finds() -> None:
    import ipaddress
    import random

    from akod.model.routes import NodeIps

    rng = random.Random(7)
    ips = {ipaddress.ip_address(f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(256)}"): f"n{i}"
           for i in range(300)} | {ipaddress.ip_address(f"fd00::{i:x}"): f"v6-{i}" for i in range(50)}
    index = NodeIps(ips)
    prefixes = [ipaddress.ip_network(f"10.{rng.randrange(4)}.{rng.randrange(256)}.0/{rng.choice([16, 20, 24, 28])}",
                                     strict=False) for _ in range(300)] + [ipaddress.ip_network("fd00::/120"),
                                                                          ipaddress.ip_network("fd01::/64")]
    for prefix in prefixes:
        scan = min((ip for ip in ips if ip.version == prefix.version and ip in prefix), default=None)
        assert index.lowest_in(prefix) == scan, prefix
