"""The translation contexts, built from the settings and the controller's facts, once per change.

`L4Context` and `L7Context` are the plain values a pure translation needs besides the
Kubernetes objects (cluster name, tenant, VRF, VIP network, TCP profile by licence tier, SCTP by
controller version, shard count...). Building one costs a little, and a busy daemon translates
thousands of keys with the same settings, so `Contexts` keeps the last one and builds it again
only when the settings object, the controller facts or the version changed. The L7 context only
wraps it with the shard count and the instant certificates are judged at.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field

from akod.config import Settings
from akod.model.l4 import L4Context
from akod.model.l7 import L7Context
from akod.model.nodes import IPNetwork
from akod.model.routes import RouteGuard
from akod.sync.discovery import ControllerContext

# Which Services and Ingresses are ours depends on the settings only: enough to route events to
# keys before the controller has been discovered.
NO_CONTROLLER = ControllerContext(vrf="", vrf_uuid="", vrf_source="", se_group_uuid="", cloud_uuid="")


def version_at_least(version: str, floor: tuple[int, ...]) -> bool:
    try:
        parts = tuple(int(p) for p in version.split(".")[:3])
    except ValueError:
        return False
    return parts >= floor


def build_l4_context(*, settings: Settings, controller: ControllerContext, controller_version: str) -> L4Context:
    net = settings.network.vip_networks[0] if settings.network.vip_networks else None
    sel = settings.namespaces.selector
    nps = settings.l7.node_port_selector
    return L4Context(
        cluster=settings.cluster.name, tenant=settings.controller.tenant, cloud=settings.controller.cloud,
        se_group=settings.controller.se_group, vrf=controller.vrf,
        vip_network=net.name if net else "",
        vip_cidr=ipaddress.ip_network(str(net.cidr)) if net and net.cidr else None,  # type: ignore[arg-type]
        vip_v6cidr=(ipaddress.ip_network(str(net.v6cidr))  # type: ignore[arg-type]
                    if net and getattr(net, "v6cidr", None) else None),
        default_domain=settings.network.default_domain, auto_fqdn=settings.l4.auto_fqdn,
        service_type=settings.l7.service_type,
        node_port_selector=(nps.key, nps.value) if nps.is_set else None,
        default_lb_controller=settings.l4.default_lb_controller,
        namespace_selector=(sel.key, sel.value) if sel.is_set else None,
        blocked_namespaces=frozenset(settings.namespaces.blocked),
        tcp_network_profile="System-TCP-Proxy" if controller.enterprise else "System-TCP-Fast-Path",
        sctp_supported=version_at_least(controller_version, (22, 1, 1)),
        node_networks=tuple((n.name, tuple(str(c) for c in n.cidrs)) for n in settings.network.node_networks),
        ip_versions=settings.network.ip_versions,
    )


def build_route_guard(settings: Settings) -> RouteGuard:
    """What no pod CIDR may touch: the VIP networks and node networks; and the pod network, if set."""
    reserved: list[tuple[IPNetwork, str]] = []
    for vip in settings.network.vip_networks:
        reserved += [(ipaddress.ip_network(str(c)), f"VIP network {vip.name}") for c in (vip.cidr, vip.v6cidr) if c]
    for node_net in settings.network.node_networks:
        reserved += [(ipaddress.ip_network(str(c)), f"node network {node_net.name}") for c in node_net.cidrs]
    return RouteGuard(pod_networks=tuple(ipaddress.ip_network(str(c)) for c in settings.routes.pod_network),
                      reserved=tuple(reserved))


@dataclass
class Contexts:
    """The newest L4 and L7 contexts, each rebuilt only when what it is built from changed."""

    _l4: tuple[Settings, ControllerContext, str, L4Context] | None = field(default=None, repr=False)

    def l4(self, *, settings: Settings, controller: ControllerContext | None, controller_version: str) -> L4Context:
        ctl = controller or NO_CONTROLLER
        memo = self._l4
        if memo is not None and memo[0] is settings and memo[1] == ctl and memo[2] == controller_version:
            return memo[3]
        value = build_l4_context(settings=settings, controller=ctl, controller_version=controller_version)
        self._l4 = (settings, ctl, controller_version, value)
        return value

    def l7(self, *, settings: Settings, controller: ControllerContext | None, controller_version: str,
           now: dt.datetime | None = None, ingress_classes: bool = True) -> L7Context:
        return L7Context(l4=self.l4(settings=settings, controller=controller, controller_version=controller_version),
                         shards=settings.l7.shard_count, default_ing_controller=settings.l7.default_ing_controller,
                         now=now or dt.datetime.now(dt.timezone.utc), ingress_classes=ingress_classes)
