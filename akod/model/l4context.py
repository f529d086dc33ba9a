"""What an L4 translation needs to know besides the Kubernetes objects, and what it returns.

The sync layer builds one `L4Context` from the settings and from what it learnt from the
controller (licence tier -> TCP network profile, version -> SCTP), so that the translation itself
stays a pure function of plain values: the same Services, endpoints and nodes under the same
context give byte-identical bodies, hence stable checksums and no needless writes.

The annotations and the load-balancer class are AKO's (reference §1.8); a Service written for AKO
means the same thing to akod.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from akod.model.objects import AviObject
from akod.model.problems import ObjectRef, Problem

AVI_LB_CLASS = "ako.vmware.com/avi-lb"
SHARED_VIP_ANNOTATION = "ako.vmware.com/enable-shared-vip"
LB_IP_ANNOTATION = "ako.vmware.com/load-balancer-ip"
DISABLE_TRAFFIC_ANNOTATION = "ako.vmware.com/disable-traffic"
SKIP_NODEPORT_ANNOTATION = "skipnodeport.ako.vmware.com/enabled"
EXTERNAL_DNS_ANNOTATION = "external-dns.alpha.kubernetes.io/hostname"

KEY_PREFIX = "l4:"


@dataclass(frozen=True)
class L4Context:
    """Settings and controller facts that shape every L4 virtual service of one cluster."""

    cluster: str
    tenant: str
    cloud: str
    se_group: str
    vrf: str  # "" = let the controller place objects (no vrf refs sent)
    vip_network: str  # [network] vip_networks[0].name ("" = none configured)
    vip_cidr: ipaddress.IPv4Network | None
    vip_v6cidr: ipaddress.IPv6Network | None
    default_domain: str
    auto_fqdn: str  # "default" | "flat" | "disabled"
    service_type: str  # "ClusterIP" | "NodePort" | "NodePortLocal"
    node_port_selector: tuple[str, str] | None
    default_lb_controller: bool
    namespace_selector: tuple[str, str] | None
    blocked_namespaces: frozenset[str]
    tcp_network_profile: str  # "System-TCP-Proxy" (enterprise licence) or "System-TCP-Fast-Path"
    sctp_supported: bool  # controller >= 22.1.1
    node_networks: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name, cidrs) -> placement_networks
    ip_versions: frozenset[int] = frozenset({4})  # [network] ip_family: the IP versions of pool servers

    @property
    def created_by(self) -> str:
        return f"ako-{self.cluster}"


@dataclass(frozen=True)
class L4Result:
    """The objects of one L4 key in RANK order (empty: the key must not exist) and why not more."""

    objects: tuple[AviObject, ...]
    problems: tuple[Problem, ...]
    hostnames: Mapping[str, str]  # Service name -> FQDN ("" when none), for status write-back
    vs_name: str
    served: tuple[str, ...] = field(default=())  # names of the Services the objects serve
    l4_rules: Mapping[str, ObjectRef] = field(default_factory=dict)  # Service name -> the L4Rule acting on it
    # L4Rule -> its fields that found nothing to apply to here (warned about).
    l4rule_notes: Mapping[ObjectRef, tuple[str, ...]] = field(default_factory=dict)


def service_ref(service: Mapping[str, Any]) -> ObjectRef:
    return ObjectRef(kind="Service", namespace=str(service.get("namespace", "")), name=str(service.get("name", "")))


def service_annotations(service: Mapping[str, Any]) -> Mapping[str, str]:
    return service.get("annotations") or {}


def annotation_field(name: str) -> str:
    return f"metadata.annotations[{name}]"


def is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


def shared_vip_key(service: Mapping[str, Any]) -> str:
    """The shared-VIP group of a Service ("" when it has its own VIP); an empty value means none."""
    return str(service_annotations(service).get(SHARED_VIP_ANNOTATION) or "")
