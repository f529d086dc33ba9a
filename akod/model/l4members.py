"""The servers of one L4 pool: pod addresses (ClusterIP mode) or node ports (NodePort mode).

ClusterIP mode (reference §3.5, AKO's `PopulateServers`): the Service's endpoints (trimmed
Endpoints or EndpointSlices, same shape) are searched for the port of the Service port: same
protocol and same port name (Kubernetes copies the Service port name onto its endpoints), or the
number of a numeric `targetPort`, or the only port of a single-port Service. Every address of a
matching slice becomes a server on the endpoint's port; it is `enabled` when ready and not
terminating, so a pod that is going away drains instead of vanishing mid-connection.

NodePort mode (`PopulateServersForNodePort`): one server per node on the Service port's
`nodePort`, at the node's InternalIP; nodes without the `node_port_selector` label are left out.
`externalTrafficPolicy: Local` keeps only nodes that run a ready endpoint of the Service (the
others would drop the traffic). A Service annotated `skipnodeport.ako.vmware.com/enabled` gets
pod addresses as in ClusterIP mode.

Address families are those `[network] ip_family` allows within the Service's `ipFamilies`
(`poolservers.server_versions`); a dual-stack Service gets servers of both families where the
endpoints or nodes have them. Servers are deduplicated by address and port and sorted, so equal inputs give
equal bodies.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from akod.model.l4context import SKIP_NODEPORT_ANNOTATION, L4Context, service_annotations
from akod.model.nodes import IPAddress, read_node

FAMILY_VERSION = {"IPv4": 4, "IPv6": 6}


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One entry of a Service's `spec.ports`, with its index for problem fields."""

    index: int
    name: str
    protocol: str
    port: int
    target_port: int | str | None
    node_port: int | None


@dataclass(frozen=True, slots=True)
class Server:
    ip: IPAddress
    port: int
    enabled: bool
    node: str

    def to_avi(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ip": {"addr": str(self.ip), "type": "V4" if self.ip.version == 4 else "V6"},
            "port": self.port,
            "enabled": self.enabled,
            "external_uuid": f"{self.ip}:{self.port}",
        }
        if self.node:
            body["server_node"] = self.node
        return body


@dataclass(frozen=True, slots=True)
class PoolMembers:
    servers: tuple[Server, ...]
    default_port: int  # the pool's default_server_port: the target port (or the nodePort)


def ip_versions(service: Mapping[str, Any]) -> frozenset[int]:
    versions = {FAMILY_VERSION[f] for f in service.get("ip_families") or () if f in FAMILY_VERSION}
    return frozenset(versions or {4})


def uses_node_ports(*, service: Mapping[str, Any], ctx: L4Context) -> bool:
    return ctx.service_type == "NodePort" and SKIP_NODEPORT_ANNOTATION not in service_annotations(service)


def pool_members(*, service: Mapping[str, Any], port: ServicePort, single_port: bool,
                 endpoints: Sequence[Mapping[str, Any]], nodes: Sequence[Mapping[str, Any]],
                 ctx: L4Context, versions: frozenset[int] | None = None) -> PoolMembers:
    """The servers of the pool of `port`; a missing nodePort gives none (the caller reports it).

    `versions`: the IP versions servers may have (`poolservers.server_versions`); default: the
    Service's `ipFamilies`.
    """
    versions = ip_versions(service) if versions is None else versions
    if uses_node_ports(service=service, ctx=ctx):
        if port.node_port is None:
            return PoolMembers(servers=(), default_port=port.port)
        local = None
        if service.get("external_traffic_policy") == "Local":
            local = nodes_with_ready_endpoints(endpoints)
        servers = node_servers(nodes=nodes, node_port=port.node_port, versions=versions, ctx=ctx, only=local)
        return PoolMembers(servers=servers, default_port=port.node_port)
    return endpoint_members(port=port, single_port=single_port, endpoints=endpoints, versions=versions)


def _slices(endpoints: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for body in endpoints:
        yield from body.get("slices") or ()


def matching_port(*, port: ServicePort, single_port: bool, slice_ports: Sequence[Mapping[str, Any]]) -> int | None:
    """The endpoint port number that serves `port` in one slice, None when the slice does not."""
    same_protocol = [p for p in slice_ports if str(p.get("protocol") or "TCP").upper() == port.protocol
                     and isinstance(p.get("port"), int)]
    for candidate in same_protocol:
        if str(candidate.get("name") or "") == port.name:
            return int(candidate["port"])
    if isinstance(port.target_port, int):
        for candidate in same_protocol:
            if candidate["port"] == port.target_port:
                return int(candidate["port"])
    if single_port and len(slice_ports) == 1 and same_protocol:
        return int(same_protocol[0]["port"])
    return None


def _address(text: Any) -> IPAddress | None:
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        return None


def endpoint_members(*, port: ServicePort, single_port: bool, endpoints: Sequence[Mapping[str, Any]],
                     versions: frozenset[int]) -> PoolMembers:
    found: list[Server] = []
    for piece in _slices(endpoints):
        number = matching_port(port=port, single_port=single_port, slice_ports=piece.get("ports") or ())
        if number is None:
            continue
        for endpoint in piece.get("endpoints") or ():
            ip = _address(endpoint.get("ip"))
            if ip is None or ip.version not in versions:
                continue
            enabled = endpoint.get("ready") is not False and not endpoint.get("terminating")
            found.append(Server(ip=ip, port=number, enabled=enabled, node=str(endpoint.get("node") or "")))
    servers = deduplicate(found)
    if isinstance(port.target_port, int):
        default_port = port.target_port
    elif servers:
        default_port = min(s.port for s in servers)
    else:
        default_port = port.port
    return PoolMembers(servers=servers, default_port=default_port)


def nodes_with_ready_endpoints(endpoints: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    return frozenset(
        str(e.get("node")) for piece in _slices(endpoints) for e in piece.get("endpoints") or ()
        if e.get("node") and e.get("ready") is not False and not e.get("terminating")
    )


def node_selected(labels: Mapping[str, str], ctx: L4Context) -> bool:
    if ctx.node_port_selector is None:
        return True
    key, value = ctx.node_port_selector
    return labels.get(key) == value


def node_servers(*, nodes: Sequence[Mapping[str, Any]], node_port: int, versions: frozenset[int], ctx: L4Context,
                 only: frozenset[str] | None) -> tuple[Server, ...]:
    found: list[Server] = []
    for body in nodes:
        info, _ = read_node(body)  # unusable node addresses are reported by the route translation
        if not node_selected(info.labels, ctx) or (only is not None and info.name not in only):
            continue
        for version in sorted(versions):
            ip = info.internal_ip(version=version)
            if ip is not None:
                found.append(Server(ip=ip, port=node_port, enabled=True, node=info.name))
    return deduplicate(found)


def deduplicate(servers: Iterable[Server]) -> tuple[Server, ...]:
    """One server per (address, port), enabled if any copy is; sorted by family, address, port."""
    merged: dict[tuple[IPAddress, int], Server] = {}
    for server in servers:
        seen = merged.get((server.ip, server.port))
        if seen is None or (not server.enabled, server.node) < (not seen.enabled, seen.node):
            merged[(server.ip, server.port)] = server
    return tuple(sorted(merged.values(), key=lambda s: (s.ip.version, int(s.ip), s.port)))
