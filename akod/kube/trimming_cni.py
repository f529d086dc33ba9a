"""Trimming the CNI records the static routes read: Calico BlockAffinities, CiliumNodes, HostSubnets.

As for every watched resource (`akod.kube.trimming`), only what a translation reads is kept. The
values are kept as the server gave them, wrong types included: deciding what is malformed is the
model's job (`akod.model.podcidrs`), which reports it on the object and field. A `spec` that is
not an object (a CRD without a schema accepts anything) is kept as `spec_type`, its JSON type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from akod.model.observed import Observed

JSON_TYPES = {str: "string", int: "number", float: "number", bool: "boolean", list: "list"}


def _observed(kind: str, raw: Mapping[str, Any], body: dict[str, Any]) -> Observed:
    meta = raw.get("metadata") or {}
    body = {"name": str(meta.get("name", "")), **body}
    return Observed(kind=kind, namespace="", name=str(meta.get("name", "")), uid=str(meta.get("uid", "")),
                    resource_version=str(meta.get("resourceVersion", "")), body=body)


def _object(value: Any) -> tuple[Mapping[str, Any], str]:
    """`value` if it is an object (or absent), else an empty one and the JSON type it was."""
    if value is None:
        return {}, ""
    if isinstance(value, Mapping):
        return value, ""
    return {}, JSON_TYPES.get(type(value), "value")


def trim_block_affinity(raw: Mapping[str, Any]) -> Observed:
    """`crd.projectcalico.org/v1` BlockAffinity: `spec.node`, `spec.cidr`, `spec.state`, `spec.deleted`."""
    spec, bad = _object(raw.get("spec"))
    body: dict[str, Any] = {k: spec.get(k) for k in ("node", "cidr", "state", "deleted")}
    if bad:
        body["spec_type"] = bad
    return _observed("BlockAffinity", raw, body)


def trim_cilium_node(raw: Mapping[str, Any]) -> Observed:
    """`cilium.io/v2` CiliumNode: `spec.ipam.podCIDRs` (cluster-pool IPAM)."""
    spec, bad = _object(raw.get("spec"))
    ipam, bad_ipam = _object(spec.get("ipam"))
    body: dict[str, Any] = {"pod_cidrs": ipam.get("podCIDRs")}
    if bad or bad_ipam:
        body["spec_type"] = f"spec is a {bad}" if bad else f"spec.ipam is a {bad_ipam}"
    return _observed("CiliumNode", raw, body)


def trim_host_subnet(raw: Mapping[str, Any]) -> Observed:
    """`network.openshift.io/v1` HostSubnet: top-level `host` and `subnet` (no spec)."""
    return _observed("HostSubnet", raw, {"host": raw.get("host"), "subnet": raw.get("subnet")})
