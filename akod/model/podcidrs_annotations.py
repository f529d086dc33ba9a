"""What CNIs write on the Node itself: OVN-Kubernetes' subnets, Antrea's and Calico's node addresses.

- `k8s.ovn.org/node-subnets`: JSON whose `default` is the node's subnet, a string before
  OpenShift 4.13 (`{"default":"10.128.0.0/23"}`) and a list since (`{"default":["10.128.0.0/23"]}`);
  both are read.
- `node.antrea.io/transport-addresses`: comma-separated IPs the node's tunnels use; the first of
  the route's IP version is its next hop.
- `projectcalico.org/IPv4Address` / `IPv6Address`: the address Calico runs on, with its mask
  (`10.10.30.12/24`); the mask is stripped.

A next-hop annotation that is not an address is reported on the Node and the InternalIP is used:
the route stays. A subnets annotation that cannot be read is reported and gives no route.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from akod.model.nodes import IPAddress, node_ref
from akod.model.podcidrs_types import PodCidr, parse_cidr, parse_ip
from akod.model.problems import Problem, quoted

OVN_ANNOTATION = "k8s.ovn.org/node-subnets"
ANTREA_ANNOTATION = "node.antrea.io/transport-addresses"
CALICO_V4_ANNOTATION = "projectcalico.org/IPv4Address"
CALICO_V6_ANNOTATION = "projectcalico.org/IPv6Address"


def _field(annotation: str) -> str:
    return f"metadata.annotations[{annotation}]"


def ovn_subnets(node: str, annotations: Mapping[str, Any], problems: list[Problem]) -> tuple[PodCidr, ...]:
    raw = annotations.get(OVN_ANNOTATION)
    if raw is None:
        return ()
    ref, afield = node_ref(node), _field(OVN_ANNOTATION)

    def bad(where: str, message: str) -> tuple[PodCidr, ...]:
        problems.append(Problem(obj=ref, field=where, reason="InvalidPodCIDR", message=message))
        return ()

    try:
        data = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        return bad(afield, f"{quoted(raw)} is not JSON ({exc.msg} at character {exc.pos})")
    if not isinstance(data, dict) or "default" not in data:
        return bad(afield, f"{quoted(raw)} has no \"default\" subnet")
    default = data["default"]
    items = [default] if isinstance(default, str) else default
    if not isinstance(items, list):
        return bad(f"{afield}.default", f"{quoted(default)} is neither a CIDR nor a list of CIDRs")
    out: list[PodCidr] = []
    for index, item in enumerate(items):
        where = f"{afield}.default" if isinstance(default, str) else f"{afield}.default[{index}]"
        prefix = parse_cidr(item)
        if prefix is None:
            bad(where, f"{quoted(item)} is not a valid CIDR; no static route for it")
        elif all(c.prefix != prefix for c in out):
            out.append(PodCidr(prefix=prefix, obj=ref, field=where, suffix=str(index)))
    return tuple(out)


def antrea_next_hops(node: str, annotations: Mapping[str, Any], problems: list[Problem]) -> tuple[IPAddress, ...]:
    raw = annotations.get(ANTREA_ANNOTATION)
    if raw is None:
        return ()
    hops: list[IPAddress] = []
    for index, item in enumerate(str(raw).split(",")):
        if not item.strip():
            continue
        ip = parse_ip(item)
        if ip is None:
            problems.append(Problem(obj=node_ref(node), field=f"{_field(ANTREA_ANNOTATION)}[{index}]",
                                    reason="InvalidNodeIP",
                                    message=f"{quoted(item.strip())} is not an IP address; not used as a next hop"))
        elif ip not in hops:
            hops.append(ip)
    return tuple(hops)


def calico_next_hops(node: str, annotations: Mapping[str, Any], problems: list[Problem]) -> tuple[IPAddress, ...]:
    hops: list[IPAddress] = []
    for annotation, version in ((CALICO_V4_ANNOTATION, 4), (CALICO_V6_ANNOTATION, 6)):
        raw = annotations.get(annotation)
        if raw is None:
            continue
        ip = parse_ip(str(raw).split("/", 1)[0])
        if ip is None or ip.version != version:
            problems.append(Problem(obj=node_ref(node), field=_field(annotation), reason="InvalidNodeIP",
                                    message=f"{quoted(raw)} is not an IPv{version} address; the InternalIP is the "
                                            "next hop instead"))
        else:
            hops.append(ip)
    return tuple(hops)
