"""The bodies of the four objects of an L4 virtual service, shaped as the controller accepts them.

Every field is one the 20.1 object model has (the emulator's strict mode refuses any other), and
every reference is by name (`/api/<type>/?name=<name>`) so that a body never depends on uuids
learnt from the controller: the checksum of a body is a function of the Kubernetes objects and
the settings alone. The checksum itself is not in the body; `AviObject.payload()` adds it.

Ownership follows AKO (reference §3.0): `created_by: ako-<cluster>` on the pool, the L4 policy
set and the virtual service (the VsVip has no such field), the marker `clustername` on all four,
and AKO's per-object markers (`Namespace`, `ServiceName`, `Port`, `Protocol`; `GatewayName` holds
the key of a shared-VIP group, as in AKO). `service_metadata` on the virtual service and the pools
names the Services and host names, so that status can be rebuilt from the controller alone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from akod.model.checksums import canonical_json
from akod.model.l4context import L4Context
from akod.model.l4members import PoolMembers, ServicePort
from akod.model.nodes import IPAddress, IPNetwork
from akod.model.objects import name_ref

APPLICATION_PROFILE = "System-L4-Application"
UDP_PROFILE = "System-UDP-Fast-Path"
SCTP_PROFILE = "System-SCTP-Proxy"
HEALTH_MONITOR = {"TCP": "System-TCP", "UDP": "System-UDP", "SCTP": "System-SCTP"}
CLUSTER_MARKER = "clustername"


@dataclass(frozen=True, slots=True)
class Listener:
    """A port the virtual service listens on, and the pool that serves it."""

    port: int
    protocol: str
    pool: str
    service: str


def markers(cluster: str, *pairs: tuple[str, str]) -> list[dict[str, Any]]:
    found = [{"key": CLUSTER_MARKER, "values": [cluster]}]
    found += [{"key": key, "values": [value]} for key, value in pairs if value]
    return found


def service_metadata(*, services: Iterable[str], hostnames: Iterable[str]) -> str:
    return canonical_json({"namespace_svc_name": list(services), "hostnames": list(hostnames)})


def _prefix(network: IPNetwork) -> dict[str, Any]:
    return {"ip_addr": {"addr": str(network.network_address), "type": "V4" if network.version == 4 else "V6"},
            "mask": network.prefixlen}


def _placement(ctx: L4Context) -> list[dict[str, Any]]:
    placements = []
    for network, cidrs in ctx.node_networks:
        for cidr in cidrs:
            try:
                subnet = ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                continue  # the settings reject such a CIDR; never a reason to fail a pool
            placements.append({"network_ref": name_ref("network", network), "subnet": _prefix(subnet)})
    return placements


def _common(ctx: L4Context, name: str) -> dict[str, Any]:
    return {"name": name, "tenant_ref": name_ref("tenant", ctx.tenant), "cloud_ref": name_ref("cloud", ctx.cloud)}


def vsvip_body(*, name: str, ctx: L4Context, preferred: IPAddress | None, versions: frozenset[int],
               fqdns: Sequence[str]) -> dict[str, Any]:
    want_v6 = ctx.vip_v6cidr is not None and 6 in versions
    want_v4 = 4 in versions or not want_v6
    vip: dict[str, Any] = {"vip_id": "0", "auto_allocate_ip": True}
    if want_v6:
        vip["auto_allocate_ip_type"] = "V4_V6" if want_v4 else "V6_ONLY"
    if ctx.vip_network:
        subnet: dict[str, Any] = {"network_ref": name_ref("network", ctx.vip_network)}
        if want_v4 and ctx.vip_cidr is not None:
            subnet["subnet"] = _prefix(ctx.vip_cidr)
        if want_v6 and ctx.vip_v6cidr is not None:
            subnet["subnet6"] = _prefix(ctx.vip_v6cidr)
        vip["ipam_network_subnet"] = subnet
    if preferred is not None:
        field = "ip_address" if preferred.version == 4 else "ip6_address"
        vip[field] = {"addr": str(preferred), "type": "V4" if preferred.version == 4 else "V6"}
    body = _common(ctx, name)
    if ctx.vrf:
        body["vrf_context_ref"] = name_ref("vrfcontext", ctx.vrf)
    body["east_west_placement"] = False
    body["vip"] = [vip]
    if fqdns:
        body["dns_info"] = [{"fqdn": fqdn} for fqdn in fqdns]
    if ctx.bgp_peer_labels:  # an AviInfraSetting's bgpPeerLabels (with enableRhi)
        body["bgp_peer_labels"] = list(ctx.bgp_peer_labels)
    body["markers"] = markers(ctx.cluster)
    return body


def pool_body(*, name: str, ctx: L4Context, namespace: str, service: str, port: ServicePort, members: PoolMembers,
              hostnames: Sequence[str], shared_key: str) -> dict[str, Any]:
    body = _common(ctx, name)
    if ctx.vrf:
        body["vrf_ref"] = name_ref("vrfcontext", ctx.vrf)
    body.update({
        "created_by": ctx.created_by,
        "service_metadata": service_metadata(services=[f"{namespace}/{service}"], hostnames=hostnames),
        "servers": [server.to_avi() for server in members.servers],
        "default_server_port": members.default_port,
        "health_monitor_refs": [name_ref("healthmonitor", HEALTH_MONITOR[port.protocol])],
        "graceful_disable_timeout": 1,
        "sni_enabled": False,
    })
    placements = _placement(ctx)
    if placements:
        body["placement_networks"] = placements
    pairs = [("Namespace", namespace), ("GatewayName", shared_key), ("ServiceName", service), ("Port", str(port.port))]
    if shared_key:
        pairs.append(("Protocol", port.protocol))
    body["markers"] = markers(ctx.cluster, *pairs)
    return body


def _owner_markers(ctx: L4Context, *, namespace: str, service: str, shared_key: str) -> list[tuple[str, str]]:
    if shared_key:
        return [("Namespace", namespace), ("GatewayName", shared_key)]
    return [("Namespace", namespace), ("ServiceName", service)]


def l4policyset_body(*, name: str, ctx: L4Context, listeners: Sequence[Listener], namespace: str,
                     shared_key: str) -> dict[str, Any]:
    rules = [
        {
            "name": listener.pool,
            "index": index,
            "match": {
                "port": {"match_criteria": "IS_IN", "ports": [listener.port]},
                "protocol": {"match_criteria": "IS_IN", "protocol": f"PROTOCOL_{listener.protocol}"},
            },
            "action": {"select_pool": {"action_type": "L4_RULE_ACTION_SELECT_POOL",
                                       "pool_ref": name_ref("pool", listener.pool)}},
        }
        for index, listener in enumerate(listeners)
    ]
    body = _common(ctx, name)
    del body["cloud_ref"]  # an L4 policy set belongs to no cloud
    body["created_by"] = ctx.created_by
    body["l4_connection_policy"] = {"rules": rules}
    protocols = ",".join(sorted({listener.protocol for listener in listeners}))
    pairs = _owner_markers(ctx, namespace=namespace, service=listeners[0].service if listeners else "",
                           shared_key=shared_key)
    if not shared_key:
        pairs.append(("Protocol", protocols))
    body["markers"] = markers(ctx.cluster, *pairs)
    return body


def network_profile(protocols: frozenset[str], ctx: L4Context) -> str:
    """AKO's `getNetworkProfile`: one protocol gets its own profile; a mix the TCP profile."""
    if protocols == {"UDP"}:
        return UDP_PROFILE
    if protocols == {"SCTP"}:
        return SCTP_PROFILE
    return ctx.tcp_network_profile


def vs_body(*, name: str, ctx: L4Context, listeners: Sequence[Listener], namespace: str, shared_key: str,
            services: Sequence[str], hostnames: Sequence[str], traffic_enabled: bool) -> dict[str, Any]:
    protocols = frozenset(listener.protocol for listener in listeners)
    profile = network_profile(protocols, ctx)
    entries = []
    for listener in listeners:
        entry: dict[str, Any] = {"port": listener.port, "port_range_end": listener.port,
                                 "enable_ssl": False, "enable_http2": False}
        if profile == ctx.tcp_network_profile and listener.protocol != "TCP":
            entry["override_network_profile_ref"] = name_ref(
                "networkprofile", UDP_PROFILE if listener.protocol == "UDP" else SCTP_PROFILE)
        entries.append(entry)
    body = _common(ctx, name)
    body["se_group_ref"] = name_ref("serviceenginegroup", ctx.se_group)
    if ctx.vrf:
        body["vrf_context_ref"] = name_ref("vrfcontext", ctx.vrf)
    body.update({
        "vsvip_ref": name_ref("vsvip", name),
        "services": entries,
        "application_profile_ref": name_ref("applicationprofile", APPLICATION_PROFILE),
        "network_profile_ref": name_ref("networkprofile", profile),
        "l4_policies": [{"index": 0, "l4_policy_set_ref": name_ref("l4policyset", name)}],
        "remove_listening_port_on_vs_down": True,
        "traffic_enabled": traffic_enabled,
        "created_by": ctx.created_by,
        "service_metadata": service_metadata(services=[f"{namespace}/{s}" for s in services], hostnames=hostnames),
        "markers": markers(ctx.cluster, *_owner_markers(ctx, namespace=namespace,
                                                         service=services[0] if services else "",
                                                         shared_key=shared_key)),
    })
    if ctx.enable_rhi is not None:  # an AviInfraSetting's enableRhi
        body["enable_rhi"] = ctx.enable_rhi
    return body
