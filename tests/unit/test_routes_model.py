"""The static-route translation (akod.model.routes), node by node, without any server."""

from __future__ import annotations

from akod.model.routes import diff_routes, is_ours, merge_routes, plan_routes, route_identity, same_routes

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
