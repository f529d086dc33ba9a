"""The static-route translation (akod.model.routes), node by node, without any server."""

from __future__ import annotations

import ipaddress

import pytest

from akod.model.routes import (
    RouteGuard,
    diff_routes,
    is_ours,
    merge_routes,
    plan_routes,
    route_identity,
    same_routes,
)

CLUSTER = "S1-AZ1"


def node(name: str, *, ips: list[str] | None = None, cidrs: list[str] | None = None, created: str = "2026-01-01T00:00:00Z",
         annotation: str | None = None) -> dict:
    body = {"name": name, "created": created, "labels": {}, "annotations": {},
            "internal_ips": ips if ips is not None else ["10.10.30.1"], "pod_cidrs": cidrs if cidrs is not None else []}
    if annotation is not None:
        body["annotations"]["ako.vmware.com/pod-cidrs"] = annotation
    return body


def seed_nodes() -> list[dict]:
    return [
        node("site1-az1-k8s-master01", ips=["10.10.30.11"], cidrs=["10.34.0.0/24"], created="2026-01-01T00:00:00Z"),
        node("site1-az1-k8s-worker01", ips=["10.10.30.12"], cidrs=["10.34.1.0/24"], created="2026-01-01T00:01:00Z"),
        node("site1-az1-k8s-worker02", ips=["10.10.30.13"], cidrs=["10.34.2.0/24"], created="2026-01-01T00:02:00Z"),
    ]


def test_seed_nodes_give_one_labelled_route_each() -> None:
    plan = plan_routes(cluster=CLUSTER, node_bodies=seed_nodes())
    routes = plan.to_avi(cluster=CLUSTER)
    assert [r["route_id"] for r in routes] == [
        "S1-AZ1-site1-az1-k8s-master01-0", "S1-AZ1-site1-az1-k8s-worker01-0", "S1-AZ1-site1-az1-k8s-worker02-0"]
    assert routes[1]["prefix"] == {"ip_addr": {"addr": "10.34.1.0", "type": "V4"}, "mask": 24}
    assert routes[1]["next_hop"] == {"addr": "10.10.30.12", "type": "V4"}
    assert routes[1]["labels"] == [{"key": "clustername", "value": CLUSTER}]
    assert plan.problems == ()


def test_node_without_pod_cidr_creates_no_route_and_a_problem() -> None:
    plan = plan_routes(cluster=CLUSTER, node_bodies=[node("n1", cidrs=[])])
    assert plan.routes == ()
    assert [(p.obj.name, p.field, p.reason) for p in plan.problems] == [("n1", "spec.podCIDRs", "NoPodCIDR")]


def test_node_without_internal_ip_creates_no_route_and_a_problem() -> None:
    plan = plan_routes(cluster=CLUSTER, node_bodies=[node("n1", ips=[], cidrs=["10.1.0.0/24"])])
    assert plan.routes == ()
    assert plan.problems[0].reason == "NoInternalIP"


def test_annotation_overrides_spec_and_tolerates_whitespace_and_empty_items() -> None:
    body = node("n1", cidrs=["10.1.0.0/24"], annotation=" 10.2.0.0/24, ,10.3.0.0/24 ,")
    plan = plan_routes(cluster=CLUSTER, node_bodies=[body])
    assert [str(r.prefix) for r in plan.routes] == ["10.2.0.0/24", "10.3.0.0/24"]
    assert plan.problems == ()


def test_garbage_annotation_is_reported_per_item_and_falls_back_to_spec() -> None:
    body = node("n1", cidrs=["10.1.0.0/24"], annotation="not-a-cidr, 10.1.0.0/33")
    plan = plan_routes(cluster=CLUSTER, node_bodies=[body])
    assert [str(r.prefix) for r in plan.routes] == ["10.1.0.0/24"]
    messages = [p.message for p in plan.problems]
    assert "'not-a-cidr' is not a valid CIDR" in messages
    assert "'10.1.0.0/33' is not a valid CIDR" in messages
    assert [p.field for p in plan.problems] == ["metadata.annotations[ako.vmware.com/pod-cidrs][0]",
                                                "metadata.annotations[ako.vmware.com/pod-cidrs][1]",
                                                "metadata.annotations[ako.vmware.com/pod-cidrs]"]
    assert "using spec.podCIDRs 10.1.0.0/24" in plan.problems[2].message


def test_duplicate_prefix_goes_to_the_oldest_node_and_the_other_is_reported() -> None:
    young = node("a-young", ips=["10.0.0.2"], cidrs=["10.5.0.0/24"], created="2026-02-01T00:00:00Z")
    old = node("z-old", ips=["10.0.0.1"], cidrs=["10.5.0.0/24"], created="2026-01-01T00:00:00Z")
    for order in ([young, old], [old, young]):
        plan = plan_routes(cluster=CLUSTER, node_bodies=order)
        assert [(r.node, str(r.next_hop)) for r in plan.routes] == [("z-old", "10.0.0.1")]
        assert [(p.obj.name, p.reason) for p in plan.problems] == [("a-young", "DuplicatePodCIDR")]


def test_ipv6_cidr_uses_the_ipv6_internal_ip() -> None:
    body = node("n1", ips=["10.0.0.1", "fd00::1"], cidrs=["10.1.0.0/24", "fd10:1::/64"])
    routes = plan_routes(cluster=CLUSTER, node_bodies=[body]).to_avi(cluster=CLUSTER)
    assert [(r["prefix"]["ip_addr"], r["next_hop"]) for r in routes] == [
        ({"addr": "10.1.0.0", "type": "V4"}, {"addr": "10.0.0.1", "type": "V4"}),
        ({"addr": "fd10:1::", "type": "V6"}, {"addr": "fd00::1", "type": "V6"}),
    ]


def test_ip_family_routes_only_the_pod_cidrs_of_its_versions() -> None:
    body = node("n1", ips=["10.0.0.1", "fd00::1"], cidrs=["10.1.0.0/24", "fd10:1::/64"])
    v6 = plan_routes(cluster=CLUSTER, node_bodies=[body], versions=frozenset({6}))
    assert [(r.route_id, str(r.prefix), str(r.next_hop)) for r in v6.routes] == [
        (f"{CLUSTER}-n1-1", "fd10:1::/64", "fd00::1")]
    v4 = plan_routes(cluster=CLUSTER, node_bodies=[body], versions=frozenset({4}))
    assert [(r.route_id, str(r.prefix)) for r in v4.routes] == [(f"{CLUSTER}-n1-0", "10.1.0.0/24")]
    assert v4.problems == v6.problems == ()


def test_disabled_route_sync_wants_no_routes() -> None:
    assert plan_routes(cluster=CLUSTER, node_bodies=seed_nodes(), enabled=False).routes == ()


def test_merge_keeps_hand_made_and_other_cluster_routes() -> None:
    hand = {"route_id": "1", "prefix": {"ip_addr": {"addr": "192.168.0.0", "type": "V4"}, "mask": 16},
            "next_hop": {"addr": "10.10.25.1", "type": "V4"}}
    other = {"route_id": "S1-AZ2-x-0", "prefix": {"ip_addr": {"addr": "10.99.0.0", "type": "V4"}, "mask": 24},
             "next_hop": {"addr": "10.10.26.5", "type": "V4"}, "labels": [{"key": "clustername", "value": "S1-AZ2"}]}
    stale = {"route_id": "S1-AZ1-gone-0", "prefix": {"ip_addr": {"addr": "10.98.0.0", "type": "V4"}, "mask": 24},
             "next_hop": {"addr": "10.10.30.99", "type": "V4"}, "labels": [{"key": "clustername", "value": CLUSTER}]}
    ours = plan_routes(cluster=CLUSTER, node_bodies=seed_nodes()).to_avi(cluster=CLUSTER)
    merged = merge_routes(existing=[hand, other, stale], ours=ours, cluster=CLUSTER)
    assert merged[:2] == [hand, other]
    assert [r["route_id"] for r in merged[2:]] == [r["route_id"] for r in ours]
    assert same_routes(existing=merged, ours=ours, cluster=CLUSTER)
    assert not same_routes(existing=[hand, other, stale], ours=ours, cluster=CLUSTER)
    assert not is_ours(hand, cluster=CLUSTER) and not is_ours(other, cluster=CLUSTER)


def test_controller_defaults_do_not_count_as_a_difference() -> None:
    ours = plan_routes(cluster=CLUSTER, node_bodies=seed_nodes()).to_avi(cluster=CLUSTER)
    filled = [dict(r, disable_gateway_monitor=False, if_name="") for r in ours]
    assert same_routes(existing=filled, ours=ours, cluster=CLUSTER)
    assert [route_identity(r) for r in filled] == [route_identity(r) for r in ours]


def test_diff_names_what_to_add_update_and_delete() -> None:
    ours = plan_routes(cluster=CLUSTER, node_bodies=seed_nodes()).to_avi(cluster=CLUSTER)
    moved = dict(ours[1], next_hop={"addr": "10.10.30.99", "type": "V4"})
    stale = dict(ours[0], route_id="S1-AZ1-gone-0")
    diff = diff_routes(existing=[moved, stale], ours=ours, cluster=CLUSTER)
    assert [r["route_id"] for r in diff.add] == [ours[0]["route_id"], ours[2]["route_id"]]
    assert [r["route_id"] for r in diff.update] == [ours[1]["route_id"]]
    assert [r["route_id"] for r in diff.delete] == ["S1-AZ1-gone-0"]
    assert diff_routes(existing=ours, ours=ours, cluster=CLUSTER).empty


# -- pod CIDRs that would divert traffic the node does not own --------------------------------------------

ANNOTATION = "metadata.annotations[ako.vmware.com/pod-cidrs]"
SEED_GUARD = RouteGuard(reserved=(
    (ipaddress.ip_network("10.10.25.0/24"), "VIP network AVI_FRONTEND_3025"),
    (ipaddress.ip_network("fd00:25::/64"), "VIP network AVI_FRONTEND_3025"),
    (ipaddress.ip_network("10.10.24.0/24"), "node network NODES"),
))


def refused(plan) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [(p.obj.name, p.field, p.reason) for p in plan.problems]


@pytest.mark.parametrize(("cidr", "words"), [
    ("0.0.0.0/0", "is a default route"),
    ("::/0", "is a default route"),
    ("10.10.25.128/25", "overlaps the VIP network AVI_FRONTEND_3025 (10.10.25.0/24)"),
    ("10.10.0.0/16", "overlaps the VIP network"),
    ("fd00:25::/96", "overlaps the VIP network"),
    ("10.10.24.0/26", "overlaps the node network NODES"),
    ("10.10.30.0/24", "holds the InternalIP 10.10.30.11 of node site1-az1-k8s-master01"),
    ("172.16.0.0/12", "is wider than /16"),
    ("fd10::/32", "is wider than /48"),
])
def test_an_annotated_pod_cidr_that_would_divert_traffic_is_refused_and_the_other_routes_stay(
        cidr: str, words: str) -> None:
    nodes = seed_nodes()
    nodes[1]["annotations"]["ako.vmware.com/pod-cidrs"] = f"{cidr}, 10.44.1.0/24"
    nodes[1]["internal_ips"] = ["10.10.30.12", "fd00:30::12"]
    plan = plan_routes(cluster=CLUSTER, node_bodies=nodes, guard=SEED_GUARD)
    assert refused(plan) == [("site1-az1-k8s-worker01", f"{ANNOTATION}[0]", "UnsafePodCIDR")]
    assert words in plan.problems[0].message and "no static route for it" in plan.problems[0].message
    assert sorted(str(r.prefix) for r in plan.routes) == ["10.34.0.0/24", "10.34.2.0/24", "10.44.1.0/24"]
    assert [r.route_id for r in plan.routes if str(r.prefix) == "10.44.1.0/24"] == ["S1-AZ1-site1-az1-k8s-worker01-1"]


def test_an_annotation_with_only_a_default_route_falls_back_to_spec_pod_cidrs() -> None:
    nodes = seed_nodes()
    nodes[1]["annotations"]["ako.vmware.com/pod-cidrs"] = "0.0.0.0/0"
    plan = plan_routes(cluster=CLUSTER, node_bodies=nodes, guard=SEED_GUARD)
    assert refused(plan) == [("site1-az1-k8s-worker01", f"{ANNOTATION}[0]", "UnsafePodCIDR"),
                             ("site1-az1-k8s-worker01", ANNOTATION, "UnsafePodCIDR")]
    assert "using spec.podCIDRs 10.34.1.0/24" in plan.problems[1].message
    assert sorted(str(r.prefix) for r in plan.routes) == ["10.34.0.0/24", "10.34.1.0/24", "10.34.2.0/24"]


def test_a_spec_pod_cidr_is_checked_too() -> None:
    plan = plan_routes(cluster=CLUSTER, node_bodies=[node("n1", ips=["10.0.0.1"], cidrs=["0.0.0.0/0", "10.1.0.0/24"])])
    assert refused(plan) == [("n1", "spec.podCIDRs[0]", "UnsafePodCIDR")]
    assert [r.route_id for r in plan.routes] == ["S1-AZ1-n1-1"]


def test_with_a_pod_network_a_cidr_must_lie_inside_it_and_may_be_wider_than_16() -> None:
    guard = RouteGuard(pod_networks=(ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd10::/32")))
    inside = node("in", ips=["192.168.0.1", "fd00::1"], cidrs=["10.32.0.0/12", "fd10::/40"])
    outside = node("out", ips=["192.168.0.2"], cidrs=["172.16.0.0/24"])
    plan = plan_routes(cluster=CLUSTER, node_bodies=[inside, outside], guard=guard)
    assert sorted(str(r.prefix) for r in plan.routes) == ["10.32.0.0/12", "fd10::/40"]
    assert refused(plan) == [("out", "spec.podCIDRs[0]", "UnsafePodCIDR")]
    assert "outside the cluster's pod network ([routes] pod_network = 10.0.0.0/8, fd10::/32)" in plan.problems[0].message


def test_a_pod_network_of_one_family_leaves_the_other_family_without_routes() -> None:
    guard = RouteGuard(pod_networks=(ipaddress.ip_network("10.0.0.0/8"),))
    plan = plan_routes(cluster=CLUSTER, node_bodies=[node("n1", ips=["192.168.0.1", "fd00::1"],
                                                          cidrs=["10.1.0.0/24", "fd10:1::/64"])], guard=guard)
    assert [str(r.prefix) for r in plan.routes] == ["10.1.0.0/24"]
    assert refused(plan) == [("n1", "spec.podCIDRs[1]", "UnsafePodCIDR")]


def test_the_daemons_guard_comes_from_the_vip_networks_node_networks_and_pod_network() -> None:
    from akod.config.loading import parse_settings
    from akod.sync.contexts import build_route_guard

    settings = parse_settings("""
[cluster]
name = "S1-AZ1"
[controller]
host = "10.10.20.43"
se_group = "S1-AZ1-SE-Group"
[network]
vip_networks = [{ name = "VIP", cidr = "10.10.25.0/24", v6cidr = "fd00:25::/64" }]
node_networks = [{ name = "NODES", cidrs = ["10.10.30.0/24"] }]
[routes]
pod_network = ["10.34.0.0/16"]
""")
    guard = build_route_guard(settings)
    assert guard.pod_networks == (ipaddress.ip_network("10.34.0.0/16"),)
    assert [(str(n), what) for n, what in guard.reserved] == [
        ("10.10.25.0/24", "VIP network VIP"), ("fd00:25::/64", "VIP network VIP"), ("10.10.30.0/24", "node network NODES")]
    plan = plan_routes(cluster=CLUSTER, node_bodies=seed_nodes(), guard=guard)
    assert len(plan.routes) == 3 and plan.problems == ()
