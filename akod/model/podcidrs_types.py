"""The one input of a static route, whatever CNI it came from: a prefix and where it was read.

Every source (`akod.model.podcidrs`) turns its records into `PodCidr`s, so the route planner
(`akod.model.routes`) checks and names them all the same way: a problem about a prefix names the
object and field it came from (a Node's `spec.podCIDRs[1]`, a BlockAffinity's `spec.cidr`), and
`suffix` makes the route id `<cluster>-<node>-<suffix>` stable for as long as the record lives.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from akod.model.nodes import IPAddress, IPNetwork
from akod.model.problems import ObjectRef


@dataclass(frozen=True, slots=True)
class PodCidr:
    prefix: IPNetwork
    obj: ObjectRef
    field: str
    suffix: str


def parse_cidr(value: object) -> IPNetwork | None:
    """`value` as a network (host bits tolerated, as for `spec.podCIDRs`), None when it is not one."""
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def parse_ip(value: object) -> IPAddress | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def cidr_suffix(prefix: IPNetwork) -> str:
    """A route id suffix naming the prefix itself: `10.244.1.64-26`, `fd00:10::-64`."""
    return f"{prefix.network_address}-{prefix.prefixlen}"
