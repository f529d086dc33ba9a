"""Static routes from Nodes: one route per pod CIDR, next hop the node's InternalIP (§3.4).

Service Engines reach pod IPs through these routes in the VRF of the VIP network. Every route
akod owns carries the label `clustername=<cluster>`; routes without it (hand-made) or with another
cluster's label are never touched. `route_id` is `<cluster>-<node name>-<i>`, with `i` the index
of the CIDR in the node's own list: stable across restarts (AKO's per-process uuid4 made every
restart rewrite the whole set), readable in the controller's UI, unique per node. A Calico block
is named by its CIDR instead (`<cluster>-<node>-10.244.1.64-26`): a node's blocks come and go in
no order, and an index would renumber the others (`akod.model.podcidrs`, where pod CIDRs come
from for each CNI).

Two nodes claiming the same prefix would make the controller's routing ambiguous: the oldest node
(then the smallest name) keeps the route, the other gets a problem. The result is a pure function
of the nodes, so every replica and every restart computes the same set.

A route sends the traffic of its prefix to one node, so a pod CIDR is refused (`UnsafePodCIDR`,
on the field it came from; the node's other CIDRs and every other node's routes stay) when it
would divert traffic the node does not own (`RouteGuard`):
- a default route (`/0`): one annotation `0.0.0.0/0` would send the whole VRF to one node;
- a prefix overlapping a VIP network, a `[network] node_networks` CIDR, or holding a node's
  InternalIP: the Service Engines would send VIP or node traffic to a pod network;
- with `[routes] pod_network` set, a prefix outside it; without, a prefix shorter than /16 (IPv4)
  or /48 (IPv6), wider than any node's share of a pod network.
As for a malformed annotation, when no CIDR of the annotation is left the node's `spec.podCIDRs`
are used (themselves checked), so a bad annotation never withdraws a route that works.

`[network] ip_family` says which IP versions get routes (V4, V6 or both); each route's next hop
is the node's InternalIP of the prefix's version.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from akod.model.checksums import checksum
from akod.model.nodes import IPAddress, IPNetwork, NodeInfo, node_ref, read_node
from akod.model.podcidrs import CniView, NodeCidrs, indexed
from akod.model.podcidrs_types import PodCidr
from akod.model.problems import ObjectRef, Problem

CLUSTER_LABEL = "clustername"
# Without a pod network set: the widest pod CIDR a node may claim, per IP version.
SHORTEST_PREFIX = {4: 16, 6: 48}


@dataclass(frozen=True, slots=True)
class RouteGuard:
    """What a pod CIDR must stay clear of: the cluster's pod networks and the networks it may not touch.

    `reserved` pairs each network with what it is, as a message names it ("VIP network X").
    """

    pod_networks: tuple[IPNetwork, ...] = ()
    reserved: tuple[tuple[IPNetwork, str], ...] = ()

    def refusal(self, prefix: IPNetwork, *, node_ips: Mapping[IPAddress, str]) -> str | None:
        """Why a route for `prefix` would divert traffic its node does not own (None: it would not)."""
        if prefix.prefixlen == 0:
            return "is a default route: it would send all the traffic of the VRF to this node"
        for network, what in self.reserved:
            if network.version == prefix.version and network.overlaps(prefix):
                return f"overlaps the {what} ({network})"
        if isinstance(node_ips, NodeIps):
            held = node_ips.lowest_in(prefix)
        else:
            held = min((ip for ip in node_ips if ip.version == prefix.version and ip in prefix), default=None)
        if held is not None:
            return f"holds the InternalIP {held} of node {node_ips[held]}"
        if self.pod_networks:
            same = [n for n in self.pod_networks if n.version == prefix.version]
            if not any(prefix.subnet_of(n) for n in same):  # type: ignore[arg-type]
                listed = ", ".join(map(str, self.pod_networks))
                return f"is outside the cluster's pod network ([routes] pod_network = {listed})"
            return None
        shortest = SHORTEST_PREFIX[prefix.version]
        if prefix.prefixlen < shortest:
            return (f"is wider than /{shortest}; if the cluster's pod network is that wide, name it in "
                    "[routes] pod_network")
        return None


class NodeIps(dict[IPAddress, str]):
    """InternalIP -> node name, searchable by prefix in O(log n): a check per pod CIDR must not scan every node
    (2,000 nodes with 4 Calico blocks each made 16 million comparisons per translation)."""

    def lowest_in(self, prefix: IPNetwork) -> IPAddress | None:
        ordered: dict[int, list[IPAddress]] | None = getattr(self, "_ordered", None)
        if ordered is None:
            ordered = {4: [], 6: []}
            for ip in self:
                ordered[ip.version].append(ip)
            for ips in ordered.values():
                ips.sort()
            self._ordered = ordered
        ips = ordered[prefix.version]
        at = bisect.bisect_left(ips, prefix.network_address)
        return ips[at] if at < len(ips) and ips[at] in prefix else None


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


def safe_cidrs(node: NodeInfo, *, wanted: Sequence[PodCidr], fallback: Sequence[PodCidr], fallback_source: str,
               guard: RouteGuard, node_ips: Mapping[IPAddress, str],
               problems: list[Problem]) -> tuple[list[PodCidr], str]:
    """The node's pod CIDRs that may be routed, and the field they came from (`fallback` when none of `wanted` may)."""
    ref = node_ref(node.name)

    def kept(cidrs: Sequence[PodCidr]) -> list[PodCidr]:
        out = []
        for item in cidrs:
            why = guard.refusal(item.prefix, node_ips=node_ips)
            if why is None:
                out.append(item)
            else:
                problems.append(_unsafe(item.obj, item.field, f"pod CIDR {item.prefix} {why}"))
        return out

    usable = kept(wanted)
    if usable or not fallback:
        return usable, wanted[0].field.rsplit("[", 1)[0] if wanted else fallback_source
    rescued = kept(fallback)
    problems.append(_unsafe(ref, node.cidr_source, f"no CIDR of the annotation can be routed; using {fallback_source} "
                            + (", ".join(str(c.prefix) for c in rescued) or "(none of which can be routed either)")))
    return rescued, fallback_source


def _unsafe(ref: ObjectRef, where: str, message: str) -> Problem:
    return Problem(obj=ref, field=where, reason="UnsafePodCIDR", message=f"{message}; no static route for it")


def _node_cidrs(node: NodeInfo, body: Mapping[str, Any], view: CniView, problems: list[Problem],
                reported: set[tuple[ObjectRef, str]]) -> tuple[NodeCidrs, list[PodCidr], list[PodCidr]]:
    """What the source says of the node, the CIDRs to route, and the ones to fall back to (annotation only)."""
    found, more = view.of_node(node, body)
    problems.extend(more)
    reported.update((p.obj, p.field) for p in more)
    if node.cidr_source != "spec.podCIDRs":  # the annotation `ako.vmware.com/pod-cidrs` overrides every source
        return found, list(indexed(node.pod_cidrs, node=node.name, source=node.cidr_source)), list(found.cidrs)
    return found, list(found.cidrs), []


def plan_routes(*, cluster: str, node_bodies: Iterable[Mapping[str, Any]], enabled: bool = True,
                guard: RouteGuard | None = None, cni: CniView | None = None,
                versions: frozenset[int] = frozenset({4, 6})) -> RoutePlan:
    """The routes the cluster's nodes call for, and the problems that keep some from existing.

    `cni` is the pod-CIDR source read from the cluster (`akod.model.podcidrs`); None: `spec.podCIDRs`.
    `versions` (`[network] ip_family`): pod CIDRs of other IP versions get no route, and no error:
    the configuration, not the node, leaves them out.
    """
    if not enabled:
        return RoutePlan(routes=(), problems=())
    guard = guard or RouteGuard()
    view = cni or CniView(cni="none")
    problems: list[Problem] = list(view.problems)
    nodes: list[tuple[NodeInfo, Mapping[str, Any]]] = []
    for body in node_bodies:
        info, found = read_node(body)
        problems.extend(found)
        nodes.append((info, body))
    nodes.sort(key=lambda n: (n[0].created or "~", n[0].name))
    node_ips = NodeIps({ip: n.name for n, _ in reversed(nodes) for ip in n.internal_ips})  # the oldest names an IP

    claimed: dict[IPNetwork, str] = {}
    routes: list[StaticRoute] = []
    reported: set[tuple[ObjectRef, str]] = set()
    for node, body in nodes:
        ref = node_ref(node.name)
        source, wanted, fallback = _node_cidrs(node, body, view, problems, reported)
        if not wanted and not fallback:
            if (ref, source.missing[0]) in reported:
                continue  # the source's field is already reported as malformed (one problem per field)
            problems.append(Problem(obj=ref, field=source.missing[0], reason="NoPodCIDR", message=source.missing[1]))
            continue
        usable, where = safe_cidrs(node, wanted=wanted, fallback=fallback, fallback_source=source.source, guard=guard,
                                   node_ips=node_ips, problems=problems)
        for item in usable:
            prefix = item.prefix
            if prefix.version not in versions:
                continue
            hop = source.next_hop(version=prefix.version) or node.internal_ip(version=prefix.version)
            if hop is None:
                problems.append(Problem(
                    obj=ref, field="status.addresses", reason="NoInternalIP",
                    message=f"the node has no IPv{prefix.version} InternalIP; no static route for {prefix}"))
                continue
            owner = claimed.get(prefix)
            if owner is not None:
                problems.append(Problem(
                    obj=item.obj, field=where if item.obj == ref else item.field, reason="DuplicatePodCIDR",
                    message=f"pod CIDR {prefix} is also claimed by the older node {owner}; it keeps the route"))
                continue
            claimed[prefix] = node.name
            routes.append(StaticRoute(route_id=f"{cluster}-{node.name}-{item.suffix}", prefix=prefix, next_hop=hop,
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
