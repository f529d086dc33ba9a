"""Trimming watched objects down to what akod uses, before anything stores them.

The state database keeps observed objects so that a restart resumes without a relist; it must not
grow with managedFields, status conditions or images, and it must never hold secret material.
Each resource has one trim function from the raw JSON dict to a small, stable body. A resource
served in several API versions (Ingress: `networking.k8s.io/v1`, or `v1beta1` on Kubernetes 1.18)
has one trim per version, all giving the same body, so the model never knows which one was read.

TLS Secrets are the exception the model needs: their certificate and key are decoded into
`Observed.material`, which lives only in memory; the stored body keeps a digest of `data`, so a
rotation still changes what is stored (and wakes the Ingresses that use the Secret).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from akod.model.checksums import canonical_json
from akod.model.observed import Observed
from akod.model.podcidrs import NODE_ANNOTATIONS as CNI_NODE_ANNOTATIONS

# Annotations a translation reads; every other annotation is dropped. The CNIs' ones:
# akod.model.podcidrs (OVN-Kubernetes' subnets, Antrea's and Calico's node addresses).
NODE_ANNOTATIONS = ("ako.vmware.com/pod-cidrs", *CNI_NODE_ANNOTATIONS)


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


def trim_namespace(raw: Mapping[str, Any]) -> Observed:
    meta = _meta(raw)
    annotations = meta.get("annotations") or {}
    return Observed(
        kind="Namespace", namespace="", name=str(meta.get("name", "")), uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        body={"name": meta.get("name", ""), "labels": dict(meta.get("labels") or {}),
              # AKO's namespace-wide AviInfraSetting (`aviinfrasetting.ako.vmware.com/name`)
              "infra_setting": str(annotations.get("aviinfrasetting.ako.vmware.com/name") or "")},
    )


# Service annotations a translation reads (ako.vmware.com/* and AKO's other knobs).
SERVICE_ANNOTATION_PREFIXES = ("ako.vmware.com/", "skipnodeport.ako.vmware.com/", "external-dns.alpha.kubernetes.io/",
                               "aviinfrasetting.ako.vmware.com/")


INFRA_ANNOTATION = "aviinfrasetting.ako.vmware.com/name"

# Annotations akod writes itself: kept apart, so that akod's own writes never look like input.
WRITTEN_BY_AKOD = ("ako.vmware.com/host-fqdn-vs-uuid-map", "ako.vmware.com/npl-annotated-by")
# NodePortLocal: the Service opt-in akod may add, and the marker saying which cluster's akod added it.
NPL_ENABLED_ANNOTATION = "nodeportlocal.antrea.io/enabled"
NPL_MARKER_ANNOTATION = "ako.vmware.com/npl-annotated-by"
NPL_POD_ANNOTATION = "nodeportlocal.antrea.io"


def _identity(meta: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, Any]:
    """Name, namespace, uid, creation time and the annotations a translation reads (not akod's own)."""
    annotations = meta.get("annotations") or {}
    return {
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "uid": meta.get("uid", ""),
        "created": meta.get("creationTimestamp", ""),
        "annotations": {k: v for k, v in annotations.items() if k.startswith(prefixes) and k not in WRITTEN_BY_AKOD},
    }


def _written_back(raw: Mapping[str, Any]) -> dict[str, Any]:
    """What akod wrote back (the VIPs in the status, the FQDN map annotation): compared before writing again."""
    annotations = _meta(raw).get("annotations") or {}
    return {
        "fqdn_map": annotations.get("ako.vmware.com/host-fqdn-vs-uuid-map", ""),
        "lb_ingress": [
            {k: v for k, v in entry.items() if k in ("ip", "hostname")}
            for entry in (((raw.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])
        ],
    }


def trim_service(raw: Mapping[str, Any]) -> Observed:
    meta = _meta(raw)
    spec = raw.get("spec") or {}
    annotations = meta.get("annotations") or {}
    body = {
        **_identity(meta, SERVICE_ANNOTATION_PREFIXES),
        "type": spec.get("type", "ClusterIP"),
        "load_balancer_class": spec.get("loadBalancerClass") or "",
        "load_balancer_ip": spec.get("loadBalancerIP") or "",
        "external_traffic_policy": spec.get("externalTrafficPolicy") or "Cluster",
        "ip_families": list(spec.get("ipFamilies") or []),
        "selector": dict(spec.get("selector") or {}),
        "ports": [
            {"name": p.get("name") or "", "protocol": p.get("protocol") or "TCP", "port": p.get("port"),
             "target_port": p.get("targetPort"), "node_port": p.get("nodePort")}
            for p in spec.get("ports") or []
        ],
        **_written_back(raw),
        # What akod may write for NodePortLocal (compared before writing, never translation input).
        "npl_enabled": annotations.get(NPL_ENABLED_ANNOTATION),
        # The AviInfraSetting the Service names (also in `annotations`); a key of its own so that a body
        # stored by an akod without it is seen as stale and listed again (`Variant.shape`).
        "infra_setting": str(annotations.get(INFRA_ANNOTATION) or ""),
        "npl_marker": annotations.get(NPL_MARKER_ANNOTATION),
    }
    return Observed(kind="Service", namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
                    uid=str(meta.get("uid", "")), resource_version=str(meta.get("resourceVersion", "")), body=body)


def trim_endpoints(raw: Mapping[str, Any]) -> Observed:
    """core v1 Endpoints -> {service, slices: [{ports, endpoints}]} (the same shape as EndpointSlices)."""
    meta = _meta(raw)
    slices = []
    for subset in raw.get("subsets") or []:
        ports = [{"name": p.get("name") or "", "port": p.get("port"), "protocol": p.get("protocol") or "TCP"}
                 for p in subset.get("ports") or []]
        endpoints = [{"ip": a.get("ip", ""), "ready": True, "terminating": False, "node": a.get("nodeName") or ""}
                     for a in subset.get("addresses") or []]
        endpoints += [{"ip": a.get("ip", ""), "ready": False, "terminating": False, "node": a.get("nodeName") or ""}
                      for a in subset.get("notReadyAddresses") or []]
        slices.append({"ports": ports, "endpoints": endpoints})
    return Observed(kind="Endpoints", namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
                    uid=str(meta.get("uid", "")), resource_version=str(meta.get("resourceVersion", "")),
                    body={"service": meta.get("name", ""), "slices": slices})


def trim_endpoint_slice(raw: Mapping[str, Any]) -> Observed:
    """discovery.k8s.io/v1 EndpointSlice -> {service, slices: [one slice]}; one stored row per slice."""
    meta = _meta(raw)
    service = (meta.get("labels") or {}).get("kubernetes.io/service-name", "")
    ports = [{"name": p.get("name") or "", "port": p.get("port"), "protocol": p.get("protocol") or "TCP"}
             for p in raw.get("ports") or []]
    endpoints = []
    for ep in raw.get("endpoints") or []:
        cond = ep.get("conditions") or {}
        for address in (ep.get("addresses") or [])[:1]:
            endpoints.append({"ip": address, "ready": cond.get("ready") is not False,
                              "terminating": bool(cond.get("terminating")), "node": ep.get("nodeName") or ""})
    return Observed(kind="EndpointSlice", namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
                    uid=str(meta.get("uid", "")), resource_version=str(meta.get("resourceVersion", "")),
                    body={"service": service, "address_type": raw.get("addressType", "IPv4"),
                          "slices": [{"ports": ports, "endpoints": endpoints}]})


def trim_pod(raw: Mapping[str, Any]) -> Observed:
    """A Pod, for NodePortLocal: labels, readiness, node, container ports and the Antrea annotation.

    Nothing else of a pod is kept (no spec, no images, no env): pods are many and change often.
    `npl` is the annotation as written (None without one; `akod.model.npl` parses and checks it).
    """
    meta = _meta(raw)
    spec = raw.get("spec") or {}
    status = raw.get("status") or {}
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    phase = status.get("phase") or ""
    body = {
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "labels": dict(meta.get("labels") or {}),
        "node": spec.get("nodeName") or "",
        # AKO leaves out a pod whose Ready condition is False; a pod that has ended serves nothing either.
        "ready": ready != "False" and phase not in ("Succeeded", "Failed"),
        "container_ports": [{"name": p.get("name") or "", "port": p.get("containerPort"),
                             "protocol": p.get("protocol") or "TCP"}
                            for c in spec.get("containers") or [] for p in c.get("ports") or []],
        "npl": (meta.get("annotations") or {}).get(NPL_POD_ANNOTATION),
    }
    return Observed(kind="Pod", namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
                    uid=str(meta.get("uid", "")), resource_version=str(meta.get("resourceVersion", "")), body=body)


# Ingress annotations a translation reads.
INGRESS_ANNOTATION_PREFIXES = ("ako.vmware.com/",)
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
TLS_MATERIAL_KEYS = ("tls.crt", "tls.key")


NO_BACKEND: dict[str, Any] = {"service": "", "port_number": None, "port_name": ""}
# The class annotation of the v1beta1 era (AKO: `kubernetes.io/ingress.class: avi`).
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
BackendTrim = Callable[[Mapping[str, Any] | None], dict[str, Any] | None]
# How v1beta1 spells the fields an object error may name (`akod.model.l7hosts.spelling`; v1: its defaults).
V1BETA1_FIELD_NAMES = {"default_backend": "spec.backend",
                       "backend": ["backend.serviceName", "backend.servicePort", "backend.servicePort"]}


def _backend(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """networking.k8s.io/v1 IngressBackend -> {service, port_number, port_name}; None without a Service."""
    service = (raw or {}).get("service")
    if not service:
        return None
    port = service.get("port") or {}
    number = port.get("number")
    return {"service": service.get("name") or "", "port_number": number if isinstance(number, int) else None,
            "port_name": port.get("name") or ""}


def _backend_v1beta1(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """v1beta1 IngressBackend (`serviceName`, `servicePort` an int or a port name) -> the v1 shape above."""
    service = (raw or {}).get("serviceName")
    if not service:
        return None  # a `resource` backend, or none
    port = (raw or {}).get("servicePort")
    number = port if isinstance(port, int) and not isinstance(port, bool) else None
    return {"service": str(service), "port_number": number, "port_name": port if isinstance(port, str) else ""}


def _ingress_body(raw: Mapping[str, Any], *, backend: BackendTrim, default_backend: str,
                  default_path_type: str) -> dict[str, Any]:
    meta = _meta(raw)
    spec = raw.get("spec") or {}

    def path(p: Mapping[str, Any]) -> dict[str, Any]:
        return {"path": p.get("path") or "", "path_type": p.get("pathType") or default_path_type,
                **(backend(p.get("backend")) or NO_BACKEND)}

    return {
        **_identity(meta, INGRESS_ANNOTATION_PREFIXES),
        "class_name": spec.get("ingressClassName") or "",
        "default_backend": backend(spec.get(default_backend)),
        "rules": [
            {"host": rule.get("host") or "", "paths": [path(p) for p in (rule.get("http") or {}).get("paths") or []]}
            for rule in spec.get("rules") or []
        ],
        "tls": [{"hosts": list(t.get("hosts") or []), "secret": t.get("secretName") or ""}
                for t in spec.get("tls") or []],
        **_written_back(raw),
    }


def _ingress(raw: Mapping[str, Any], body: dict[str, Any]) -> Observed:
    meta = _meta(raw)
    return Observed(kind="Ingress", namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
                    uid=str(meta.get("uid", "")), resource_version=str(meta.get("resourceVersion", "")), body=body)


def trim_ingress(raw: Mapping[str, Any]) -> Observed:
    """A networking.k8s.io/v1 Ingress (Kubernetes >= 1.19)."""
    return _ingress(raw, _ingress_body(raw, backend=_backend, default_backend="defaultBackend", default_path_type=""))


def trim_ingress_v1beta1(raw: Mapping[str, Any]) -> Observed:
    """A networking.k8s.io/v1beta1 or extensions/v1beta1 Ingress (Kubernetes 1.18), in the v1 body shape.

    `backend.serviceName`/`servicePort` become `service`/`port_number`|`port_name`, `spec.backend` is
    the default backend, a missing `pathType` (objects stored before 1.18) is ImplementationSpecific
    (a prefix, as AKO reads it), and the class annotation of that era is kept as `class_annotation`
    (`akod.model.l7select` decides with it; v1 Ingresses have no such field). `field_names` tells
    the model how this version spells the fields an object error names.
    """
    body = _ingress_body(raw, backend=_backend_v1beta1, default_backend="backend",
                         default_path_type="ImplementationSpecific")
    annotations = _meta(raw).get("annotations") or {}
    body["class_annotation"] = str(annotations.get(CLASS_ANNOTATION) or "")
    body["field_names"] = V1BETA1_FIELD_NAMES
    return _ingress(raw, body)


def trim_ingress_class(raw: Mapping[str, Any]) -> Observed:
    meta = _meta(raw)
    annotations = meta.get("annotations") or {}
    body = {
        "name": meta.get("name", ""),
        "controller": (raw.get("spec") or {}).get("controller") or "",
        "is_default": str(annotations.get(DEFAULT_CLASS_ANNOTATION, "")).strip().lower() == "true",
    }
    parameters = (raw.get("spec") or {}).get("parameters")
    # AKO: an AviInfraSetting named here acts on the class's Ingresses. Always a key (None: no
    # parameters), so that a body stored by an akod without it is listed again (`Variant.shape`).
    body["parameters"] = ({"api_group": str(parameters.get("apiGroup") or ""),
                           "kind": str(parameters.get("kind") or ""), "name": str(parameters.get("name") or "")}
                          if isinstance(parameters, Mapping) else None)
    return Observed(kind="IngressClass", namespace="", name=str(meta.get("name", "")), uid=str(meta.get("uid", "")),
                    resource_version=str(meta.get("resourceVersion", "")), body=body)


# networking.k8s.io/v1beta1 IngressClass (Kubernetes 1.18) has the v1 shape for what akod reads
# (`spec.controller`, the default-class annotation): one trim serves both.
trim_ingress_class_v1beta1 = trim_ingress_class


def _decode(value: Any) -> str:
    """A base64 `data` value as text; "" when it is not base64 (the certificate check then refuses it)."""
    try:
        return base64.b64decode(str(value), validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return ""


def trim_secret(raw: Mapping[str, Any]) -> Observed:
    """A TLS Secret: body {name, namespace, type, digest}; the decoded PEM only in `material`."""
    meta = _meta(raw)
    data = raw.get("data") or {}
    body = {
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "type": raw.get("type") or "",
        "digest": hashlib.sha256(canonical_json(data).encode()).hexdigest(),
    }
    material = {k: _decode(data[k]) for k in TLS_MATERIAL_KEYS if k in data}
    return Observed(kind="Secret", namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
                    uid=str(meta.get("uid", "")), resource_version=str(meta.get("resourceVersion", "")), body=body,
                    material=material)


def trim_custom_resource(kind: str) -> Callable[[Mapping[str, Any]], Observed]:
    """The trim of one of AKO's CRDs (`kind`): identity, generation, the whole spec and the status.

    A CR's spec is small and every field of it is input (a field akod does not apply is still
    read, to be named in a warning), so the spec is kept as the apiserver gives it. The status
    (`status.status`, `status.error`) is what akod writes itself; it is kept apart so that the
    write is skipped when Kubernetes already shows it.
    """

    def trim(raw: Mapping[str, Any]) -> Observed:
        meta = _meta(raw)
        status = raw.get("status") or {}
        body = {
            "name": meta.get("name", ""),
            "namespace": meta.get("namespace", ""),
            "uid": meta.get("uid", ""),
            "created": meta.get("creationTimestamp", ""),
            "generation": meta.get("generation", 0),
            "api_version": raw.get("apiVersion", ""),
            "spec": dict(raw.get("spec") or {}),
            "status": {"status": str(status.get("status") or ""), "error": str(status.get("error") or "")},
        }
        return Observed(kind=kind, namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
                        uid=str(meta.get("uid", "")), resource_version=str(meta.get("resourceVersion", "")),
                        body=body)

    return trim
