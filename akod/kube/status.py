"""Writing what the controller assigned back into Kubernetes: Service and Ingress status.

`status.loadBalancer.ingress` is what `kubectl get svc` shows as EXTERNAL-IP. It is set with a
merge patch of the status subresource; AKO's annotation `ako.vmware.com/host-fqdn-vs-uuid-map`
(FQDN -> virtual service uuid, read by tools such as AMKO) is set with a merge patch of metadata.
Both are skipped by the caller when Kubernetes already shows the same, so a restart writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes_asyncio.client import ApiClient, CoreV1Api, NetworkingV1Api

FQDN_MAP_ANNOTATION = "ako.vmware.com/host-fqdn-vs-uuid-map"


async def patch_service_lb_status(*, api: ApiClient, namespace: str, name: str,
                                  ingress: Sequence[Mapping[str, str]]) -> None:
    body = {"status": {"loadBalancer": {"ingress": [dict(i) for i in ingress]}}}
    await _discard(await CoreV1Api(api).patch_namespaced_service_status(name, namespace, body,
                                                                      _preload_content=False))


async def patch_service_fqdn_map(*, api: ApiClient, namespace: str, name: str,
                                 fqdn_map: Mapping[str, str] | None) -> None:
    value = json.dumps(dict(fqdn_map), sort_keys=True) if fqdn_map else None
    await _discard(await CoreV1Api(api).patch_namespaced_service(name, namespace, {"metadata": {"annotations": {
        FQDN_MAP_ANNOTATION: value}}}, _preload_content=False))


async def patch_ingress_lb_status(*, api: ApiClient, namespace: str, name: str,
                                  ingress: Sequence[Mapping[str, str]]) -> None:
    body = {"status": {"loadBalancer": {"ingress": [dict(i) for i in ingress]}}}
    await _discard(await NetworkingV1Api(api).patch_namespaced_ingress_status(name, namespace, body,
                                                                            _preload_content=False))


async def patch_ingress_fqdn_map(*, api: ApiClient, namespace: str, name: str,
                                 fqdn_map: Mapping[str, str] | None) -> None:
    value = json.dumps(dict(fqdn_map), sort_keys=True) if fqdn_map else None
    await _discard(await NetworkingV1Api(api).patch_namespaced_ingress(name, namespace, {"metadata": {"annotations": {
        FQDN_MAP_ANNOTATION: value}}}, _preload_content=False))


async def _discard(resp: Any) -> None:
    """Read and drop an answer: deserialising it into models costs more than the call itself."""
    await resp.read()
    resp.release()
