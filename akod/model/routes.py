"""Static routes from Nodes: one route per pod CIDR, next hop the node's InternalIP (§3.4).

Service Engines reach pod IPs through these routes in the VRF of the VIP network. Every route
akod owns carries the label `clustername=<cluster>`; routes without it (hand-made) or with another
cluster's label are never touched. `route_id` is `<cluster>-<node name>-<i>`, with `i` the index
of the CIDR in the node's own list: stable across restarts (AKO's per-process uuid4 made every
restart rewrite the whole set), readable in the controller's UI, unique per node.

Two nodes claiming the same prefix would make the controller's routing ambiguous: the oldest node
(then the smallest name) keeps the route, the other gets a problem. The result is a pure function
of the nodes, so every replica and every restart computes the same set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from akod.model.checksums import checksum
from akod.model.nodes import IPAddress, IPNetwork, NodeInfo, node_ref, read_node
from akod.model.problems import Problem

CLUSTER_LABEL = "clustername"


@dataclass(frozen=True, slots=True)
class StaticRoute:
    route_id: str
    prefix: IPNetwork
    next_hop: IPAddress
    node: str

    def to_avi(self, *, cluster: str) -> dict[str, Any]:
        family = "V4" if self.prefix.version == 4 else "V6"
        return {
            "route_id": self.route_id,
            "prefix": {"ip_addr": {"addr": str(self.prefix.network_address), "type": family},
                       "mask": self.prefix.prefixlen},
            "next_hop": {"addr": str(self.next_hop), "type": family},
            "labels": [{"key": CLUSTER_LABEL, "value": cluster}],
        }


@dataclass(frozen=True, slots=True)
class RoutePlan:
    routes: tuple[StaticRoute, ...]
    problems: tuple[Problem, ...]

    def to_avi(self, *, cluster: str) -> list[dict[str, Any]]:
        return [r.to_avi(cluster=cluster) for r in self.routes]


def plan_routes(*, cluster: str, node_bodies: Iterable[Mapping[str, Any]], enabled: bool = True) -> RoutePlan:
    """The routes the cluster's nodes call for, and the problems that keep some from existing."""
    if not enabled:
        return RoutePlan(routes=(), problems=())
    problems: list[Problem] = []
    nodes: list[NodeInfo] = []
    for body in node_bodies:
        info, found = read_node(body)
        problems.extend(found)
        nodes.append(info)
    nodes.sort(key=lambda n: (n.created or "~", n.name))

    claimed: dict[IPNetwork, str] = {}
    routes: list[StaticRoute] = []
    for node in nodes:
        ref = node_ref(node.name)
        if not node.pod_cidrs:
            problems.append(Problem(obj=ref, field="spec.podCIDRs", reason="NoPodCIDR",
                                    message="the node has no pod CIDR; no static route for it"))
            continue
        for index, prefix in enumerate(node.pod_cidrs):
            hop = node.internal_ip(version=prefix.version)
            if hop is None:
                problems.append(Problem(
                    obj=ref, field="status.addresses", reason="NoInternalIP",
                    message=f"the node has no IPv{prefix.version} InternalIP; no static route for {prefix}"))
                continue
            owner = claimed.get(prefix)
            if owner is not None:
                problems.append(Problem(
                    obj=ref, field=node.cidr_source, reason="DuplicatePodCIDR",
                    message=f"pod CIDR {prefix} is also claimed by the older node {owner}; it keeps the route"))
                continue
            claimed[prefix] = node.name
            routes.append(StaticRoute(route_id=f"{cluster}-{node.name}-{index}", prefix=prefix, next_hop=hop,
                                      node=node.name))
    routes.sort(key=lambda r: r.route_id)
    return RoutePlan(routes=tuple(routes), problems=tuple(problems))


def is_ours(route: Mapping[str, Any], *, cluster: str) -> bool:
    return any(
        label.get("key") == CLUSTER_LABEL and label.get("value") == cluster for label in route.get("labels") or []
    )


def route_identity(route: Mapping[str, Any]) -> tuple[str, str, int, str]:
    """The fields that make a route what it is, ignoring defaults the controller fills in."""
    prefix = route.get("prefix") or {}
    return (
        str(route.get("route_id", "")),
        str((prefix.get("ip_addr") or {}).get("addr", "")),
        int(prefix.get("mask", -1)),
        str((route.get("next_hop") or {}).get("addr", "")),
    )


def routes_checksum(routes: Sequence[Mapping[str, Any]]) -> str:
    return checksum(sorted(route_identity(r) for r in routes))


def merge_routes(*, existing: Sequence[Mapping[str, Any]], ours: Sequence[Mapping[str, Any]],
                 cluster: str) -> list[dict[str, Any]]:
    """The VRF's new route list: every route that is not ours, unchanged, then ours."""
    kept = [dict(r) for r in existing if not is_ours(r, cluster=cluster)]
    taken = {str(r.get("route_id")) for r in kept}
    return kept + [dict(r) for r in ours if str(r.get("route_id")) not in taken]


def same_routes(*, existing: Sequence[Mapping[str, Any]], ours: Sequence[Mapping[str, Any]], cluster: str) -> bool:
    mine = [r for r in existing if is_ours(r, cluster=cluster)]
    return sorted(map(route_identity, mine)) == sorted(map(route_identity, ours))


@dataclass(frozen=True, slots=True)
class RouteDiff:
    """How the VRF's routes of this cluster differ from the desired ones, by route_id."""

    add: tuple[dict[str, Any], ...]
    update: tuple[dict[str, Any], ...]
    delete: tuple[dict[str, Any], ...]

    @property
    def empty(self) -> bool:
        return not (self.add or self.update or self.delete)


def diff_routes(*, existing: Sequence[Mapping[str, Any]], ours: Sequence[Mapping[str, Any]], cluster: str) -> RouteDiff:
    mine = {str(r.get("route_id")): r for r in existing if is_ours(r, cluster=cluster)}
    wanted = {str(r.get("route_id")): r for r in ours}
    add = tuple(dict(r) for rid, r in sorted(wanted.items()) if rid not in mine)
    update = tuple(dict(r) for rid, r in sorted(wanted.items())
                   if rid in mine and route_identity(mine[rid]) != route_identity(r))
    delete = tuple(dict(r) for rid, r in sorted(mine.items()) if rid not in wanted)
    return RouteDiff(add=add, update=update, delete=delete)


def describe_route(route: Mapping[str, Any]) -> str:
    prefix = route.get("prefix") or {}
    return (f"{route.get('route_id')}: {(prefix.get('ip_addr') or {}).get('addr')}/{prefix.get('mask')}"
            f" via {(route.get('next_hop') or {}).get('addr')}")
