"""Which optional APIs the cluster serves, found by API discovery (not by version numbers)."""

from __future__ import annotations

from kubernetes_asyncio.client import ApiClient, DiscoveryV1Api
from kubernetes_asyncio.client.exceptions import ApiException


async def endpoint_slices_served(api: ApiClient) -> bool:
    """True when `discovery.k8s.io/v1` EndpointSlices exist (Kubernetes >= 1.21)."""
    try:
        resources = await DiscoveryV1Api(api).get_api_resources()
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return any(r.name == "endpointslices" for r in resources.resources or [])
