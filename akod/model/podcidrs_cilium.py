"""Cilium's pod CIDRs: `cilium.io/v2` CiliumNode `spec.ipam.podCIDRs` (cluster-pool IPAM).

A CiliumNode is named after its Node. With Cilium's IPAM mode `kubernetes` the CiliumNode lists
no pod CIDR and the Node's `spec.podCIDRs` is the truth, so the source falls back to it
(`akod.model.podcidrs`); AKO asks users to leave `cniPlugin` empty in that mode instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from akod.model.podcidrs_types import PodCidr, parse_cidr
from akod.model.problems import ObjectRef, Problem, quoted

CILIUM_KIND = "CiliumNode"
FIELD = "spec.ipam.podCIDRs"


def cilium_cidrs(bodies: Iterable[Mapping[str, Any]], problems: list[Problem]) -> dict[str, tuple[PodCidr, ...]]:
    """Node name -> the pod CIDRs of its CiliumNode (in their order); malformed items are problems."""
    found: dict[str, tuple[PodCidr, ...]] = {}
    for body in bodies:
        name = str(body.get("name", ""))
        ref = ObjectRef(kind=CILIUM_KIND, namespace="", name=name)
        raw = body.get("pod_cidrs")
        if body.get("spec_type"):
            problems.append(Problem(obj=ref, field="spec.ipam", reason="InvalidCiliumNode",
                                    message=f"{body['spec_type']}, not an object; no static route from it"))
            continue
        if raw is None:
            continue
        if not isinstance(raw, list):
            problems.append(Problem(obj=ref, field=FIELD, reason="InvalidCiliumNode",
                                    message=f"{quoted(raw)} is not a list of CIDRs; no static route from it"))
            continue
        cidrs: list[PodCidr] = []
        for index, item in enumerate(raw):
            prefix = parse_cidr(item)
            if prefix is None:
                problems.append(Problem(obj=ref, field=f"{FIELD}[{index}]", reason="InvalidPodCIDR",
                                        message=f"{quoted(item)} is not a valid CIDR; no static route for it"))
            elif all(c.prefix != prefix for c in cidrs):
                cidrs.append(PodCidr(prefix=prefix, obj=ref, field=f"{FIELD}[{index}]", suffix=str(index)))
        if cidrs:
            found[name] = tuple(cidrs)
    return found
