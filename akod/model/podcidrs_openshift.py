"""OpenShift SDN's pod CIDRs: `network.openshift.io/v1` HostSubnets, top-level `host` and `subnet`.

One HostSubnet per node in practice; should a host have several, each is a route, numbered in
the order of the HostSubnets' names (stable while they live).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from akod.model.podcidrs_types import PodCidr, parse_cidr
from akod.model.problems import ObjectRef, Problem, quoted

HOSTSUBNET_KIND = "HostSubnet"


def host_subnets(bodies: Iterable[Mapping[str, Any]], problems: list[Problem]) -> dict[str, tuple[PodCidr, ...]]:
    """Node name -> the subnets of the HostSubnets naming it as their host; malformed ones are problems."""
    found: dict[str, list[PodCidr]] = {}
    for body in sorted(bodies, key=lambda b: str(b.get("name", ""))):
        ref = ObjectRef(kind=HOSTSUBNET_KIND, namespace="", name=str(body.get("name", "")))
        host, subnet = body.get("host"), body.get("subnet")
        if not isinstance(host, str) or not host:
            problems.append(Problem(obj=ref, field="host", reason="InvalidHostSubnet",
                                    message=f"{quoted(host)} is not a node name; no static route from it"))
            continue
        prefix = parse_cidr(subnet)
        if prefix is None:
            problems.append(Problem(obj=ref, field="subnet", reason="InvalidPodCIDR",
                                    message=f"{quoted(subnet)} is not a valid CIDR; no static route for it"))
            continue
        mine = found.setdefault(host, [])
        if all(c.prefix != prefix for c in mine):
            mine.append(PodCidr(prefix=prefix, obj=ref, field="subnet", suffix=str(len(mine))))
    return {host: tuple(cidrs) for host, cidrs in found.items()}
