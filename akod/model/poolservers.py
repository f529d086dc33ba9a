"""Which source the servers of a pool come from, by `[l7] service_type`: the one place that decides.

ClusterIP and NodePort servers come from endpoints and nodes (`l4members`); NodePortLocal
servers from the pods the Service selects and their Antrea annotation (`npl`). L4 pools and
Ingress backend pools both ask here, so the two can never disagree about a Service. The IP
versions of the servers are those `[network] ip_family` allows, narrowed to the Service's
`spec.ipFamilies` when it lists any (a dual-stack Service under `V4_V6` gets both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from akod.model.l4context import L4Context
from akod.model.l4members import FAMILY_VERSION, PoolMembers, ServicePort, pool_members
from akod.model.npl import npl_members

NODE_PORT_LOCAL = "NodePortLocal"


def server_versions(*, service: Mapping[str, Any], ctx: L4Context) -> frozenset[int]:
    """`ip_family`'s versions, within the Service's `ipFamilies` when it lists any."""
    listed = {FAMILY_VERSION[f] for f in service.get("ip_families") or () if f in FAMILY_VERSION}
    return ctx.ip_versions & frozenset(listed) if listed else ctx.ip_versions


def servers_of(*, service: Mapping[str, Any], port: ServicePort, single_port: bool,
               endpoints: Sequence[Mapping[str, Any]], nodes: Sequence[Mapping[str, Any]],
               pods: Sequence[Mapping[str, Any]], ctx: L4Context) -> PoolMembers:
    """The servers of the pool of one Service port, from the source the mode names."""
    versions = server_versions(service=service, ctx=ctx)
    if ctx.service_type == NODE_PORT_LOCAL:
        return npl_members(port=port, pods=pods, versions=versions)
    return pool_members(service=service, port=port, single_port=single_port, endpoints=endpoints, nodes=nodes,
                        ctx=ctx, versions=versions)
