"""Trimming watched objects down to what akod uses, before anything stores them.

The state database keeps observed objects so that a restart resumes without a relist; it must not
grow with managedFields, status conditions or images, and it must never hold secret material.
Each resource has one trim function from the raw JSON dict to a small, stable body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from akod.model.observed import Observed

# Annotations a translation reads; every other annotation is dropped.
NODE_ANNOTATIONS = ("ako.vmware.com/pod-cidrs",)


def _meta(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    return raw.get("metadata") or {}


def trim_node(raw: Mapping[str, Any]) -> Observed:
    meta = _meta(raw)
    spec = raw.get("spec") or {}
    status = raw.get("status") or {}
    pod_cidrs = list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))
    addresses = status.get("addresses") or []
    annotations = meta.get("annotations") or {}
    body = {
        "name": meta.get("name", ""),
        "created": meta.get("creationTimestamp", ""),
        "labels": dict(meta.get("labels") or {}),
        "annotations": {k: annotations[k] for k in NODE_ANNOTATIONS if k in annotations},
        "internal_ips": [a.get("address", "") for a in addresses if a.get("type") == "InternalIP"],
        "pod_cidrs": pod_cidrs,
    }
    return Observed(
        kind="Node",
        namespace="",
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        body=body,
    )
