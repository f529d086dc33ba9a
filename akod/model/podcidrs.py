"""Where a node's pod CIDRs come from: the CNI's own record of them (AKO's `cniPlugin`).

`spec.podCIDRs` is what the node controller allocated; many CNIs ignore it and keep their own
allocation elsewhere, and a route to a range the CNI does not use sends traffic nowhere. So the
static routes read the pod CIDRs from the source `[routes] cni` names:

| cni              | pod CIDRs                                              | next hop                       |
|------------------|--------------------------------------------------------|--------------------------------|
| `none`           | `spec.podCIDRs`                                        | InternalIP                     |
| `antrea`         | `spec.podCIDRs`                                        | `node.antrea.io/transport-addresses`, else InternalIP |
| `calico`         | confirmed `crd.projectcalico.org/v1` BlockAffinities   | `projectcalico.org/IPv4Address` (mask stripped), else InternalIP |
| `cilium`         | `cilium.io/v2` CiliumNode `spec.ipam.podCIDRs`, else `spec.podCIDRs` | InternalIP       |
| `ovn-kubernetes` | the annotation `k8s.ovn.org/node-subnets` (`default`)   | InternalIP                     |
| `openshift`      | `network.openshift.io/v1` HostSubnet `subnet`           | InternalIP                     |

`auto` picks one for the whole cluster, from what the server serves (API discovery: Calico's,
then Cilium's, then OpenShift's resource) and then from what the nodes carry (OVN-Kubernetes'
annotation, then Antrea's), else `none`; `choose_cni` is a pure function of those, so every
replica and every restart picks the same. The annotation `ako.vmware.com/pod-cidrs` overrides
every source's CIDRs (`akod.model.nodes`); the next hop still comes from the source.

Decisions where AKO is silent or wrong: a Calico block counts only when `spec.state` is
`confirmed` and `spec.deleted` is not "true" (AKO took every block, pending ones included); each
block is one route whose id comes from its CIDR, so releasing one block removes exactly its route.
Cilium falls back to `spec.podCIDRs` when a CiliumNode lists no pod CIDR (IPAM mode `kubernetes`).
The other sources never fall back: `spec.podCIDRs` is not what their pods use. A malformed record
(garbage JSON, a CIDR that is not one, a field of the wrong type) is a problem on the object that
holds it (the Node or the CR) naming the field, and costs only the routes it would have given.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from akod.model.nodes import IPAddress, IPNetwork, NodeInfo, node_ref
from akod.model.podcidrs_annotations import (
    ANTREA_ANNOTATION,
    CALICO_V4_ANNOTATION,
    CALICO_V6_ANNOTATION,
    OVN_ANNOTATION,
    antrea_next_hops,
    calico_next_hops,
    ovn_subnets,
)
from akod.model.podcidrs_calico import BLOCK_KIND, calico_blocks
from akod.model.podcidrs_cilium import CILIUM_KIND, cilium_cidrs
from akod.model.podcidrs_openshift import HOSTSUBNET_KIND, host_subnets
from akod.model.podcidrs_types import PodCidr
from akod.model.problems import Problem

# The watched resources (names of `akod.kube.resources`) each source reads besides the Nodes.
CNI_RESOURCES: Mapping[str, tuple[str, ...]] = {
    "calico": ("blockaffinities",),
    "cilium": ("ciliumnodes",),
    "openshift": ("hostsubnets",),
    "auto": ("blockaffinities", "ciliumnodes", "hostsubnets"),
}
RESOURCE_KINDS: Mapping[str, str] = {"blockaffinities": BLOCK_KIND, "ciliumnodes": CILIUM_KIND,
                                     "hostsubnets": HOSTSUBNET_KIND}
CR_KINDS = frozenset(RESOURCE_KINDS.values())
# `auto`: a served resource names its CNI, in this order.
AUTO_BY_API = (("blockaffinities", "calico"), ("ciliumnodes", "cilium"), ("hostsubnets", "openshift"))
AUTO_BY_ANNOTATION = ((OVN_ANNOTATION, "ovn-kubernetes"), (ANTREA_ANNOTATION, "antrea"))
# The Node annotations the sources read (the kube edge keeps them when it trims a Node).
NODE_ANNOTATIONS = (OVN_ANNOTATION, ANTREA_ANNOTATION, CALICO_V4_ANNOTATION, CALICO_V6_ANNOTATION)

Body = Mapping[str, Any]


def choose_cni(configured: str, *, served: Collection[str], node_bodies: Iterable[Body]) -> tuple[str, str]:
    """The source to read (never `auto`) and why: `configured`, or what `auto` finds."""
    if configured != "auto":
        return configured, "[routes] cni"
    for resource, cni in AUTO_BY_API:
        if resource in served:
            return cni, f"the server serves {resource}"
    bodies = list(node_bodies)
    for annotation, cni in AUTO_BY_ANNOTATION:
        if any(annotation in (b.get("annotations") or {}) for b in bodies):
            return cni, f"a node carries the annotation {annotation}"
    return "none", "no CNI resource is served and no node carries a CNI annotation"


@dataclass(frozen=True, slots=True)
class NodeCidrs:
    """What the source says of one node: its pod CIDRs, and the next hops it prefers (per IP version).

    `missing` is the (field, message) of the problem a node without any pod CIDR gets.
    """

    cidrs: tuple[PodCidr, ...]
    source: str
    missing: tuple[str, str]
    next_hops: tuple[IPAddress, ...] = ()

    def next_hop(self, *, version: int) -> IPAddress | None:
        return next((ip for ip in self.next_hops if ip.version == version), None)


@dataclass
class CniView:
    """One source, read from the cluster: its pod CIDRs per node name, and the problems of its records."""

    cni: str
    by_node: dict[str, tuple[PodCidr, ...]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def of_node(self, node: NodeInfo, body: Body) -> tuple[NodeCidrs, list[Problem]]:
        """The node's pod CIDRs by this source (before the override annotation), and its problems."""
        problems: list[Problem] = []
        annotations: Mapping[str, Any] = body.get("annotations") or {}
        hops: tuple[IPAddress, ...] = ()
        if self.cni == "calico":
            hops = calico_next_hops(node.name, annotations, problems)
        elif self.cni == "antrea":
            hops = antrea_next_hops(node.name, annotations, problems)
        spec = spec_cidrs(node)
        cidrs, source = spec, "spec.podCIDRs"
        missing = ("spec.podCIDRs", "the node has no pod CIDR; no static route for it")
        if self.cni == "calico":
            cidrs, source = self.by_node.get(node.name, ()), "blockaffinities"
            missing = ("blockaffinities", "no confirmed Calico block affinity (crd.projectcalico.org/v1) names "
                                          "this node; no static route for it")
        elif self.cni == "openshift":
            cidrs, source = self.by_node.get(node.name, ()), "hostsubnets"
            missing = ("hostsubnets", "no OpenShift HostSubnet (network.openshift.io/v1) names this node as its "
                                      "host; no static route for it")
        elif self.cni == "cilium":
            found = self.by_node.get(node.name)
            if found:
                cidrs, source = found, "ciliumnodes"
            missing = ("spec.podCIDRs", "neither the node's CiliumNode (spec.ipam.podCIDRs) nor spec.podCIDRs "
                                        "has a pod CIDR; no static route for it")
        elif self.cni == "ovn-kubernetes":
            afield = f"metadata.annotations[{OVN_ANNOTATION}]"
            cidrs, source = ovn_subnets(node.name, annotations, problems), afield
            missing = (afield, f"the node has no pod CIDR in the annotation {OVN_ANNOTATION}; no static route for it")
        return NodeCidrs(cidrs=cidrs, source=source, missing=missing, next_hops=hops), problems


def spec_cidrs(node: NodeInfo) -> tuple[PodCidr, ...]:
    ref = node_ref(node.name)
    return tuple(PodCidr(prefix=p, obj=ref, field=f"spec.podCIDRs[{i}]", suffix=str(i))
                 for i, p in enumerate(node.spec_cidrs))


def indexed(prefixes: Sequence[IPNetwork], *, node: str, source: str) -> tuple[PodCidr, ...]:
    """The override annotation's CIDRs as route inputs (the suffix is the index, as always)."""
    ref = node_ref(node)
    return tuple(PodCidr(prefix=p, obj=ref, field=f"{source}[{i}]", suffix=str(i)) for i, p in enumerate(prefixes))


def read_source(cni: str, *, objects: Mapping[str, Mapping[tuple[str, str], Body]]) -> CniView:
    """The view of source `cni` (not `auto`), from the CR bodies by kind (`ClusterCache.other`)."""
    view = CniView(cni=cni)
    if cni == "calico":
        view.by_node = calico_blocks(objects.get(BLOCK_KIND, {}).values(), view.problems)
    elif cni == "cilium":
        view.by_node = cilium_cidrs(objects.get(CILIUM_KIND, {}).values(), view.problems)
    elif cni == "openshift":
        view.by_node = host_subnets(objects.get(HOSTSUBNET_KIND, {}).values(), view.problems)
    return view
