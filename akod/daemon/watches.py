"""Which Kubernetes resources the daemon watches, and which sync keys their events mark.

Nodes feed the static routes (and, in NodePort mode, every L4 pool); Namespaces, Services and
Endpoints feed L4. Endpoints come from `discovery.k8s.io/v1` EndpointSlices where the server serves
them (found by API discovery), else from core v1 Endpoints (Kubernetes 1.20 has no v1 slices).
Ingresses, IngressClasses and Secrets feed L7; only Secrets of type `kubernetes.io/tls` are
watched (a field selector: never every Secret of the cluster), and they are listed again at every
start because their material is kept in memory only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from kubernetes_asyncio.client import ApiClient, CoreV1Api, DiscoveryV1Api, NetworkingV1Api

from akod.kube import WatchSpec
from akod.kube.apis import endpoint_slices_served
from akod.kube.trimming import (
    trim_endpoint_slice,
    trim_endpoints,
    trim_ingress,
    trim_ingress_class,
    trim_namespace,
    trim_node,
    trim_secret,
    trim_service,
)
from akod.model.observed import Observed

log = logging.getLogger("akod.daemon")
OnChange = Callable[[Sequence[Observed], Sequence[Observed]], Awaitable[None]]


async def watch_specs(api: ApiClient) -> tuple[list[WatchSpec], str]:
    """The watches, and the kind endpoints are stored as ("EndpointSlice" or "Endpoints")."""
    core = CoreV1Api(api)
    specs = [
        WatchSpec(resource="nodes", kind="Node", list_fn=core.list_node, trim=trim_node),
        WatchSpec(resource="namespaces", kind="Namespace", list_fn=core.list_namespace, trim=trim_namespace),
        WatchSpec(resource="services", kind="Service", list_fn=core.list_service_for_all_namespaces,
                  trim=trim_service),
        WatchSpec(resource="ingressclasses", kind="IngressClass", list_fn=NetworkingV1Api(api).list_ingress_class,
                  trim=trim_ingress_class),
        WatchSpec(resource="ingresses", kind="Ingress", list_fn=NetworkingV1Api(api).list_ingress_for_all_namespaces,
                  trim=trim_ingress),
        WatchSpec(resource="secrets", kind="Secret", list_fn=core.list_secret_for_all_namespaces, trim=trim_secret,
                  list_kwargs={"field_selector": "type=kubernetes.io/tls"}, resume=False),
    ]
    if await endpoint_slices_served(api):
        specs.append(WatchSpec(resource="endpointslices", kind="EndpointSlice",
                               list_fn=DiscoveryV1Api(api).list_endpoint_slice_for_all_namespaces,
                               trim=trim_endpoint_slice))
        kind = "EndpointSlice"
    else:
        specs.append(WatchSpec(resource="endpoints", kind="Endpoints",
                               list_fn=core.list_endpoints_for_all_namespaces, trim=trim_endpoints))
        kind = "Endpoints"
    log.info("endpoints come from %s", "discovery.k8s.io/v1 EndpointSlices" if kind == "EndpointSlice"
             else "core v1 Endpoints (no discovery.k8s.io/v1 on this server)")
    return specs, kind
