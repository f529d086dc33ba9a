"""Reading what a Node says about itself: its name, age, addresses, labels and pod CIDRs.

The kube edge stores a trimmed Node body (see `akod.kube.trimming`); this module turns that body
into a `NodeInfo` and reports what is unusable in it. Pod CIDRs come from `spec.podCIDRs` (or the
older `spec.podCIDR`), overridden by the annotation `ako.vmware.com/pod-cidrs` (comma-separated;
whitespace and empty items tolerated), as AKO does for CNIs without their own source.

Decision: an annotation item that is not a CIDR is ignored and reported; when no valid item is
left, the node falls back to `spec.podCIDRs`, so a typo in an annotation does not withdraw a route
that was working.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from akod.model.problems import ObjectRef, Problem, quoted

POD_CIDRS_ANNOTATION = "ako.vmware.com/pod-cidrs"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    created: str
    internal_ips: tuple[IPAddress, ...]
    pod_cidrs: tuple[IPNetwork, ...]
    cidr_source: str
    labels: Mapping[str, str] = field(default_factory=dict)
    spec_cidrs: tuple[IPNetwork, ...] = ()  # what `spec.podCIDRs` says, whatever the annotation says

    def internal_ip(self, *, version: int) -> IPAddress | None:
        for ip in self.internal_ips:
            if ip.version == version:
                return ip
        return None


def node_ref(name: str) -> ObjectRef:
    return ObjectRef(kind="Node", namespace="", name=name)


def _parse_cidr(text: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def read_node(body: Mapping[str, Any]) -> tuple[NodeInfo, list[Problem]]:
    """Parse a trimmed Node body; return what is usable and the problems found."""
    name = str(body.get("name", ""))
    ref = node_ref(name)
    problems: list[Problem] = []

    ips: list[IPAddress] = []
    for raw in body.get("internal_ips", []):
        try:
            ips.append(ipaddress.ip_address(raw))
        except ValueError:
            problems.append(
                Problem(obj=ref, field="status.addresses[InternalIP]", reason="InvalidNodeIP",
                        message=f"InternalIP {quoted(raw)} is not an IP address")
            )

    spec_cidrs: list[IPNetwork] = []
    for index, raw in enumerate(body.get("pod_cidrs", [])):
        net = _parse_cidr(str(raw))
        if net is None:
            problems.append(Problem(obj=ref, field=f"spec.podCIDRs[{index}]", reason="InvalidPodCIDR",
                                    message=f"{quoted(raw)} is not a valid CIDR"))
        elif net not in spec_cidrs:
            spec_cidrs.append(net)

    cidrs, source = spec_cidrs, "spec.podCIDRs"
    annotation = body.get("annotations", {}).get(POD_CIDRS_ANNOTATION)
    if annotation is not None:
        afield = f"metadata.annotations[{POD_CIDRS_ANNOTATION}]"
        from_annotation: list[IPNetwork] = []
        for index, item in enumerate(str(annotation).split(",")):
            item = item.strip()
            if not item:
                continue
            net = _parse_cidr(item)
            if net is None:
                problems.append(Problem(obj=ref, field=f"{afield}[{index}]", reason="InvalidPodCIDR",
                                        message=f"{quoted(item)} is not a valid CIDR"))
            elif net not in from_annotation:
                from_annotation.append(net)
        if from_annotation:
            cidrs, source = from_annotation, afield
        elif spec_cidrs:
            problems.append(
                Problem(obj=ref, field=afield, reason="InvalidPodCIDR",
                        message=f"no valid CIDR in the annotation; using spec.podCIDRs {', '.join(map(str, spec_cidrs))}")
            )

    info = NodeInfo(
        name=name,
        created=str(body.get("created", "")),
        internal_ips=tuple(ips),
        pod_cidrs=tuple(cidrs),
        cidr_source=source,
        labels=dict(body.get("labels", {})),
        spec_cidrs=tuple(spec_cidrs),
    )
    return info, problems
