"""The Kubernetes resources akod can watch, each chosen by API discovery, never by version number.

Families name the resources they read logically ("nodes", "endpoints", "ingresses"); this table
says what each may be on a server, best first, and `resolve` picks the first variant the server
serves: endpoints from `discovery.k8s.io/v1` EndpointSlices where they exist (Kubernetes >= 1.21),
else core v1 Endpoints; Ingresses from `networking.k8s.io/v1` (>= 1.19), else
`networking.k8s.io/v1beta1`, else `extensions/v1beta1` (1.18); IngressClasses from
`networking.k8s.io/v1`, else `v1beta1`. Every variant of a resource is trimmed into one body shape,
so nothing above this layer knows which version was read. A resource with no served variant is
reported (`Resolution.missing`), once, and not watched: never listed in a loop.

The write-back must speak the version that was read (a 1.18 server answers 404 for a v1 Ingress):
`Resolution.targets` tells, per stored kind, the API the kind's objects come from, and the
daemon hands it to the `KubeWriter` (`akod.kube.status`) that patches them.

Each variant's cursor name (the `cursors` table) is its own, so a server upgrade that starts
serving a better variant relists it from scratch instead of resuming from another resource's
resourceVersion. A resource a family may do without (`optional`: the CNI records `[routes] cni =
"auto"` looks for) is not missing when unserved: it is logged once at info and left out
(`Resolution.absent`), so a cluster without Calico shows nothing missing.

Only Secrets of type `kubernetes.io/tls` are watched (a field selector: never
every Secret of the cluster), and they are listed again at every start because their material is
kept in memory only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import ApiClient

from akod.kube.listing import lister, served_resources
from akod.kube.status import ObjectApi
from akod.kube.trimming import (
    trim_custom_resource,
    trim_endpoint_slice,
    trim_endpoints,
    trim_ingress,
    trim_ingress_class,
    trim_ingress_class_v1beta1,
    trim_ingress_v1beta1,
    trim_namespace,
    trim_node,
    trim_pod,
    trim_secret,
    trim_service,
)
from akod.kube.trimming_cni import trim_block_affinity, trim_cilium_node, trim_host_subnet
from akod.kube.watching import Trim, WatchSpec

log = logging.getLogger("akod.kube")


@dataclass(frozen=True)
class Variant:
    """One way a server may serve a logical resource."""

    group_version: str  # "v1" for the core group
    plural: str
    kind: str  # the kind stored in the state database (the model reads bodies of this shape)
    trim: Trim
    cursor: str = ""  # the `cursors` row; default: the plural
    list_kwargs: Mapping[str, Any] = field(default_factory=dict)
    resume: bool = True  # False: list again at every start (material kept only in memory)
    # Keys every body of the current trim has: a stored body without one was trimmed by an older
    # akod (it lacks what a translation now reads), so the resource is listed again at start.
    shape: tuple[str, ...] = ()

    def stale(self, bodies: Iterable[Mapping[str, Any]]) -> bool:
        return any(key not in body for body in bodies for key in self.shape)

    # A custom resource: a cluster without its CRD is an ordinary one (reported as `absent`, not `missing`).
    optional: bool = False

    @property
    def cursor_name(self) -> str:
        return self.cursor or self.plural

    @property
    def api(self) -> str:
        return f"{self.group_version}/{self.plural}"


TLS_ONLY = {"field_selector": "type=kubernetes.io/tls"}

RESOURCES: dict[str, tuple[Variant, ...]] = {
    "nodes": (Variant("v1", "nodes", "Node", trim_node),),
    "namespaces": (Variant("v1", "namespaces", "Namespace", trim_namespace, shape=("infra_setting",)),),
    "services": (Variant("v1", "services", "Service", trim_service, shape=("selector", "npl_enabled", "infra_setting")),),
    "endpoints": (Variant("discovery.k8s.io/v1", "endpointslices", "EndpointSlice", trim_endpoint_slice),
                  Variant("v1", "endpoints", "Endpoints", trim_endpoints)),
    "ingressclasses": (Variant("networking.k8s.io/v1", "ingressclasses", "IngressClass", trim_ingress_class,
                               shape=("parameters",)),
                       Variant("networking.k8s.io/v1beta1", "ingressclasses", "IngressClass",
                               trim_ingress_class_v1beta1, cursor="ingressclasses.v1beta1.networking.k8s.io",
                               shape=("parameters",))),
    "ingresses": (Variant("networking.k8s.io/v1", "ingresses", "Ingress", trim_ingress),
                  Variant("networking.k8s.io/v1beta1", "ingresses", "Ingress", trim_ingress_v1beta1,
                          cursor="ingresses.v1beta1.networking.k8s.io"),
                  Variant("extensions/v1beta1", "ingresses", "Ingress", trim_ingress_v1beta1,
                          cursor="ingresses.v1beta1.extensions")),
    "secrets": (Variant("v1", "secrets", "Secret", trim_secret, list_kwargs=TLS_ONLY, resume=False),),
    # The CNIs' records of their pod CIDRs (cluster-scoped custom resources; `akod.model.podcidrs`).
    "blockaffinities": (Variant("crd.projectcalico.org/v1", "blockaffinities", "BlockAffinity",
                                trim_block_affinity),),
    "ciliumnodes": (Variant("cilium.io/v2", "ciliumnodes", "CiliumNode", trim_cilium_node),),
    "hostsubnets": (Variant("network.openshift.io/v1", "hostsubnets", "HostSubnet", trim_host_subnet),),
    # NodePortLocal mode only (the NPL family asks for them then): every pod, cluster-wide, as AKO.
    "pods": (Variant("v1", "pods", "Pod", trim_pod),),
    # AKO's CRDs (`deploy/crds/`): watched only where the server serves them (the CRD is installed).
    "hostrules": (Variant("ako.vmware.com/v1beta1", "hostrules", "HostRule", trim_custom_resource("HostRule"),
                          cursor="hostrules.v1beta1.ako.vmware.com", optional=True),),
    "httprules": (Variant("ako.vmware.com/v1beta1", "httprules", "HTTPRule", trim_custom_resource("HTTPRule"),
                          cursor="httprules.v1beta1.ako.vmware.com", optional=True),),
    "aviinfrasettings": (Variant("ako.vmware.com/v1beta1", "aviinfrasettings", "AviInfraSetting",
                                 trim_custom_resource("AviInfraSetting"),
                                 cursor="aviinfrasettings.v1beta1.ako.vmware.com", optional=True),),
    "l4rules": (Variant("ako.vmware.com/v1alpha2", "l4rules", "L4Rule", trim_custom_resource("L4Rule"),
                        cursor="l4rules.v1alpha2.ako.vmware.com", optional=True),),
}


@dataclass
class Resolution:
    """What the server serves of the resources asked for: a watch per served one, and what is missing."""

    specs: list[WatchSpec] = field(default_factory=list)
    chosen: dict[str, Variant] = field(default_factory=dict)  # logical name -> the variant watched
    missing: dict[str, str] = field(default_factory=dict)  # logical name -> why it is not watched
    absent: dict[str, str] = field(default_factory=dict)  # optional ones not served: not watched, not missing

    @property
    def unserved(self) -> frozenset[str]:
        """Every resource asked for that is not watched, missing or optional."""
        return frozenset(self.missing) | frozenset(self.absent)

    def kind_of(self, name: str) -> str | None:
        variant = self.chosen.get(name)
        return variant.kind if variant is not None else None

    @property
    def targets(self) -> dict[str, ObjectApi]:
        """Stored kind -> the API its objects were read from (where their status is patched)."""
        return {v.kind: ObjectApi(group_version=v.group_version, plural=v.plural) for v in self.chosen.values()}


async def resolve(api: ApiClient, names: Iterable[str], *, optional: Iterable[str] = ()) -> Resolution:
    """For each logical resource in `names` (in order), the first variant the server serves.

    One in `optional` that the server does not serve goes to `absent`, not `missing`."""
    optional = frozenset(optional)
    out = Resolution()
    discovered: dict[str, set[str] | None] = {}
    for name in names:
        variants = RESOURCES.get(name, ())
        for variant in variants:
            if variant.group_version not in discovered:
                discovered[variant.group_version] = await served_resources(api, group_version=variant.group_version)
            served = discovered[variant.group_version]
            if served is not None and variant.plural in served:
                out.chosen[name] = variant
                out.specs.append(spec_for(api, name=name, variant=variant))
                break
        else:
            tried = ", ".join(v.api for v in variants) or "no known API"
            why = f"the server serves none of {tried}"  # the caller reports it, once
            if name in optional:
                out.absent[name] = why
            elif variants and all(v.optional for v in variants):
                out.absent[name] = f"{why} (the CRD is not installed: deploy/crds/)"
            else:
                out.missing[name] = why
    for name in ("endpoints", "ingresses", "ingressclasses"):
        if name in out.chosen:
            log.info("%s come from %s", name, out.chosen[name].api)
    return out


def spec_for(api: ApiClient, *, name: str, variant: Variant) -> WatchSpec:
    return WatchSpec(resource=variant.cursor_name, kind=variant.kind,
                     list_fn=lister(api, group_version=variant.group_version, plural=variant.plural),
                     trim=variant.trim, list_kwargs=dict(variant.list_kwargs), resume=variant.resume)
