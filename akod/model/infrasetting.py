"""AviInfraSetting (`ako.vmware.com/v1beta1`, cluster-scoped): a spec read into its effect and verdict.

An AviInfraSetting names where the virtual services of the objects attached to it live: the SE
group (`spec.seGroup.name`), the VIP network(s) (`spec.network.vipNetworks`), the networks pool
servers are placed in (`spec.network.nodeNetworks`), route health injection (`enableRhi`,
`bgpPeerLabels`), the listener ports of its shards (`network.listeners`) and its own shard count
(`l7Settings.shardSize`). It is attached through an IngressClass's `spec.parameters` ({apiGroup
`ako.vmware.com`, kind `AviInfraSetting`, name}) or a LoadBalancer Service's annotation
`aviinfrasetting.ako.vmware.com/name` (`akod.model.infrasetting_apply`).

This module reads the trimmed CR body into an `InfraEffect` and a `Verdict` with AKO's checks
(`ValidateAviInfraSetting`): `bgpPeerLabels` only with `enableRhi: true`, VIP network CIDRs that
parse, at least one listener with `enableSSL: true` when listeners are given, and the SE group and
every named network existing on the controller (the `refs`, checked by the sync layer). What the
controller says about the networks (each VIP network's VRF and subnet, learnt by the sync layer)
is kept next to the spec under `avi` in the recorded body, so the effect stays a pure function of
the body, also after a restart.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from akod.model.crs import AviRef, Verdict, cr_age, cr_ref, text
from akod.model.problems import ObjectRef, Problem, quoted

KIND = "AviInfraSetting"
API_GROUP = "ako.vmware.com"
ANNOTATION = "aviinfrasetting.ako.vmware.com/name"
SHARD_SIZES = {"LARGE": 8, "MEDIUM": 4, "SMALL": 1, "DEDICATED": 0}
MODELS = {"serviceenginegroup": "ServiceEngineGroup", "network": "Network"}
# Fields akod reads but does not apply (README "AviInfraSetting"): accepted, with a warning naming them.
UNSUPPORTED = ("network.enablePublicIP", "nsxSettings.t1lr")


@dataclass(frozen=True, slots=True)
class VipNetwork:
    name: str
    cidr: str = ""  # "" = the network's first IPv4 subnet, as the controller has it
    v6cidr: str = ""


@dataclass(frozen=True, slots=True)
class NodeNetwork:
    name: str
    cidrs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Listener:
    port: int
    enable_ssl: bool = False
    enable_http2: bool = False


@dataclass(frozen=True)
class InfraEffect:
    """What one accepted AviInfraSetting does to the objects attached to it."""

    ref: ObjectRef
    age: tuple[str, str, str]
    name: str
    se_group: str = ""
    vip_networks: tuple[VipNetwork, ...] = ()
    node_networks: tuple[NodeNetwork, ...] = ()
    enable_rhi: bool | None = None
    bgp_peer_labels: tuple[str, ...] = ()
    listeners: tuple[Listener, ...] = ()
    shard_size: str = ""  # "" = `[l7] shard_vs_size`
    vrf: str = ""  # the VRF of the first VIP network, as the controller says ("" = the cluster's)

    @property
    def shards(self) -> int | None:
        return SHARD_SIZES[self.shard_size] if self.shard_size else None

    def describe(self) -> dict[str, Any]:
        shown = {"seGroup": self.se_group, "vipNetworks": [v.name for v in self.vip_networks],
                 "nodeNetworks": [n.name for n in self.node_networks], "enableRhi": self.enable_rhi,
                 "bgpPeerLabels": list(self.bgp_peer_labels),
                 "listeners": [{"port": li.port, "enableSSL": li.enable_ssl, "enableHTTP2": li.enable_http2}
                               for li in self.listeners],
                 "shardSize": self.shard_size, "vrf": self.vrf}
        return {k: v for k, v in shown.items() if v not in (None, "", [])}


def _problem(obj: ObjectRef, where: str, message: str, reason: str = "InvalidField") -> Problem:
    return Problem(obj=obj, field=f"spec.{where}", reason=reason, message=message)


def _cidr(value: Any, version: int) -> bool:
    try:
        return ipaddress.ip_network(str(value), strict=False).version == version
    except ValueError:
        return False


def parse_infrasetting(body: Mapping[str, Any]) -> tuple[InfraEffect | None, Verdict]:
    """The effect of an AviInfraSetting body and its verdict (None: not usable, the verdict says why)."""
    obj = cr_ref(KIND, body)
    spec = body.get("spec") if isinstance(body.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    problems: list[Problem] = []
    refs: list[AviRef] = []
    unsupported: list[str] = []

    def section(name: str) -> Mapping[str, Any]:
        value = spec.get(name) or {}
        if not isinstance(value, Mapping):
            problems.append(_problem(obj, name, f"must be an object, not {quoted(value)}"))
            return {}
        return value

    network, se_group, l7 = section("network"), section("seGroup"), section("l7Settings")
    seg_name = se_group.get("name")
    if seg_name not in (None, "") and not isinstance(seg_name, str):
        problems.append(_problem(obj, "seGroup.name", f"must be the name of an SE group, not {quoted(seg_name)}"))
        seg_name = ""
    if seg_name:
        refs.append(AviRef(field="spec.seGroup.name", obj_type="serviceenginegroup", name=str(seg_name)))

    vips: list[VipNetwork] = []
    for i, raw in enumerate(network.get("vipNetworks") or []):
        where = f"network.vipNetworks[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(_problem(obj, where, f"must be an object, not {quoted(raw)}"))
            continue
        name = text(raw.get("networkName"))
        if not name:
            if text(raw.get("networkUUID")):
                unsupported.append(f"spec.{where}.networkUUID")
            else:
                problems.append(_problem(obj, f"{where}.networkName", "names the VIP network"))
            continue
        cidr, v6 = text(raw.get("cidr")), text(raw.get("v6cidr"))
        if cidr and not _cidr(cidr, 4):
            problems.append(_problem(obj, f"{where}.cidr", f"is not an IPv4 CIDR: {quoted(cidr)}"))
        if v6 and not _cidr(v6, 6):
            problems.append(_problem(obj, f"{where}.v6cidr", f"is not an IPv6 CIDR: {quoted(v6)}"))
        refs.append(AviRef(field=f"spec.{where}.networkName", obj_type="network", name=name))
        vips.append(VipNetwork(name=name, cidr=cidr, v6cidr=v6))

    nodes: list[NodeNetwork] = []
    for i, raw in enumerate(network.get("nodeNetworks") or []):
        where = f"network.nodeNetworks[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(_problem(obj, where, f"must be an object, not {quoted(raw)}"))
            continue
        name = text(raw.get("networkName"))
        if not name:
            if text(raw.get("networkUUID")):
                unsupported.append(f"spec.{where}.networkUUID")
            else:
                problems.append(_problem(obj, f"{where}.networkName", "names the node network"))
            continue
        cidrs = [c for c in raw.get("cidrs") or [] if isinstance(c, str)]
        for j, c in enumerate(cidrs):
            if not (_cidr(c, 4) or _cidr(c, 6)):
                problems.append(_problem(obj, f"{where}.cidrs[{j}]", f"is not a CIDR: {quoted(c)}"))
        refs.append(AviRef(field=f"spec.{where}.networkName", obj_type="network", name=name))
        nodes.append(NodeNetwork(name=name, cidrs=tuple(cidrs)))

    rhi = network.get("enableRhi")
    if rhi is not None and not isinstance(rhi, bool):
        problems.append(_problem(obj, "network.enableRhi", f"must be true or false, not {quoted(rhi)}"))
        rhi = None
    labels = network.get("bgpPeerLabels") or []
    if not isinstance(labels, list) or not all(isinstance(v, str) and v for v in labels):
        problems.append(_problem(obj, "network.bgpPeerLabels", f"must be a list of labels, not {quoted(labels)}"))
        labels = []
    if labels and rhi is not True:
        problems.append(_problem(obj, "network.bgpPeerLabels", "cannot be set unless enableRhi is true (as AKO)"))

    listeners: list[Listener] = []
    for i, raw in enumerate(network.get("listeners") or []):
        port = raw.get("port") if isinstance(raw, Mapping) else None
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            problems.append(_problem(obj, f"network.listeners[{i}].port", f"is not a port number: {quoted(port)}"))
            continue
        assert isinstance(raw, Mapping)
        listeners.append(Listener(port=port, enable_ssl=raw.get("enableSSL") is True,
                                  enable_http2=raw.get("enableHTTP2") is True))
    if listeners and not any(li.enable_ssl for li in listeners):
        problems.append(_problem(obj, "network.listeners", "one of the listeners must have enableSSL: true (as AKO)"))

    shard = l7.get("shardSize") or ""
    if shard and shard not in SHARD_SIZES:
        problems.append(_problem(obj, "l7Settings.shardSize",
                                 f"must be one of {', '.join(SHARD_SIZES)}, not {quoted(shard)}"))
        shard = ""
    for name in UNSUPPORTED:
        head, _, tail = name.partition(".")
        value = spec.get(head)
        value = value.get(tail) if isinstance(value, Mapping) else None
        if value not in (None, "", False):
            unsupported.append(f"spec.{name}")
    verdict = Verdict(problems=tuple(problems), refs=tuple(refs), unsupported=tuple(unsupported))
    if problems:
        return None, verdict
    facts = body.get("avi") if isinstance(body.get("avi"), Mapping) else {}
    assert isinstance(facts, Mapping)
    subnets = facts.get("subnets") if isinstance(facts.get("subnets"), Mapping) else {}
    assert isinstance(subnets, Mapping)
    vips = [v if v.cidr else VipNetwork(name=v.name, cidr=text(subnets.get(v.name)), v6cidr=v.v6cidr) for v in vips]
    learnt = facts.get("node_subnets") if isinstance(facts.get("node_subnets"), Mapping) else {}
    assert isinstance(learnt, Mapping)
    nodes = [n if n.cidrs else NodeNetwork(name=n.name, cidrs=tuple(str(c) for c in learnt.get(n.name) or ()))
             for n in nodes]
    effect = InfraEffect(
        ref=obj, age=cr_age(body), name=obj.name, se_group=str(seg_name or ""), vip_networks=tuple(vips),
        node_networks=tuple(nodes), enable_rhi=rhi, bgp_peer_labels=tuple(labels), listeners=tuple(listeners),
        shard_size=str(shard), vrf=text(facts.get("vrf")))
    return effect, verdict
