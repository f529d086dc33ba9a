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
from kubernetes_asyncio.client.exceptions import ApiException

FQDN_MAP_ANNOTATION = "ako.vmware.com/host-fqdn-vs-uuid-map"
# A JSON merge patch (RFC 7386): for these bodies (a list replaced whole, one annotation set or
# removed) it means the same as kubernetes-asyncio's default strategic merge patch, and the
# apiserver applies it without the struct-driven merge logic.
MERGE_PATCH = "application/merge-patch+json"


async def patch_service_lb_status(*, api: ApiClient, namespace: str, name: str,
                                  ingress: Sequence[Mapping[str, str]]) -> None:
    body = {"status": {"loadBalancer": {"ingress": [dict(i) for i in ingress]}}}
    await _discard(await CoreV1Api(api).patch_namespaced_service_status(name, namespace, body,
                                                                      _preload_content=False,
                                                                      _content_type=MERGE_PATCH))


async def patch_service_fqdn_map(*, api: ApiClient, namespace: str, name: str,
                                 fqdn_map: Mapping[str, str] | None) -> None:
    value = json.dumps(dict(fqdn_map), sort_keys=True) if fqdn_map else None
    await _discard(await CoreV1Api(api).patch_namespaced_service(name, namespace, {"metadata": {"annotations": {
        FQDN_MAP_ANNOTATION: value}}}, _preload_content=False, _content_type=MERGE_PATCH))


async def patch_ingress_lb_status(*, api: ApiClient, namespace: str, name: str,
                                  ingress: Sequence[Mapping[str, str]]) -> None:
    body = {"status": {"loadBalancer": {"ingress": [dict(i) for i in ingress]}}}
    await _discard(await NetworkingV1Api(api).patch_namespaced_ingress_status(name, namespace, body,
                                                                            _preload_content=False,
                                                                            _content_type=MERGE_PATCH))


async def _discard(resp: Any) -> None:
    """Read and drop an answer: deserialising it into models costs more than the call itself.

    With `_preload_content=False` kubernetes-asyncio hands back any answer, errors included, so
    a status other than 2xx is raised here as the `ApiException` the call would have raised.
    """
    data = await resp.read()
    resp.release()
    if not 200 <= resp.status <= 299:
        exc = ApiException(status=resp.status, reason=f"{resp.reason}: {data[:500].decode(errors='replace')}")
        exc.body = data
        raise exc
