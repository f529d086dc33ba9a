"""Writing what the controller assigned back into Kubernetes: Service and Ingress status.

`status.loadBalancer.ingress` is what `kubectl get svc` shows as EXTERNAL-IP. It is set with a
merge patch of the status subresource; AKO's annotation `ako.vmware.com/host-fqdn-vs-uuid-map`
(FQDN -> virtual service uuid, read by tools such as AMKO) is set with a merge patch of metadata.
Both are skipped by the caller when Kubernetes already shows the same, so a restart writes nothing.
When both change, `patch_service_status_and_fqdn_map` writes them in one patch of the status
subresource (which keeps metadata changes; it only resets the spec): one apiserver write and one
watch event instead of two each. The answer tells whether the annotation took; if an apiserver
dropped it, the annotation is patched on its own.
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
    value = _fqdn_map_value(fqdn_map)
    await _discard(await CoreV1Api(api).patch_namespaced_service(name, namespace, {"metadata": {"annotations": {
        FQDN_MAP_ANNOTATION: value}}}, _preload_content=False, _content_type=MERGE_PATCH))


async def patch_service_status_and_fqdn_map(*, api: ApiClient, namespace: str, name: str,
                                           ingress: Sequence[Mapping[str, str]],
                                           fqdn_map: Mapping[str, str] | None) -> None:
    """The LB status and the FQDN-map annotation (None: removed) in one write, if the server allows."""
    value = _fqdn_map_value(fqdn_map)
    body = {"metadata": {"annotations": {FQDN_MAP_ANNOTATION: value}},
            "status": {"loadBalancer": {"ingress": [dict(i) for i in ingress]}}}
    data = await _read(await CoreV1Api(api).patch_namespaced_service_status(
        name, namespace, body, _preload_content=False, _content_type=MERGE_PATCH))
    try:
        annotations = (json.loads(data).get("metadata") or {}).get("annotations") or {}
    except (ValueError, AttributeError):
        annotations = None
    if annotations is None or annotations.get(FQDN_MAP_ANNOTATION) != value:
        await patch_service_fqdn_map(api=api, namespace=namespace, name=name, fqdn_map=fqdn_map)


async def patch_ingress_lb_status(*, api: ApiClient, namespace: str, name: str,
                                  ingress: Sequence[Mapping[str, str]]) -> None:
    body = {"status": {"loadBalancer": {"ingress": [dict(i) for i in ingress]}}}
    await _discard(await NetworkingV1Api(api).patch_namespaced_ingress_status(name, namespace, body,
                                                                            _preload_content=False,
                                                                            _content_type=MERGE_PATCH))


def _fqdn_map_value(fqdn_map: Mapping[str, str] | None) -> str | None:
    return json.dumps(dict(fqdn_map), sort_keys=True) if fqdn_map else None


async def patch_ingress_fqdn_map(*, api: ApiClient, namespace: str, name: str,
                                 fqdn_map: Mapping[str, str] | None) -> None:
    value = json.dumps(dict(fqdn_map), sort_keys=True) if fqdn_map else None
    await _discard(await NetworkingV1Api(api).patch_namespaced_ingress(name, namespace, {"metadata": {"annotations": {
        FQDN_MAP_ANNOTATION: value}}}, _preload_content=False))


async def _discard(resp: Any) -> None:
    """Read and drop an answer: deserialising it into models costs more than the call itself."""
    await _read(resp)


async def _read(resp: Any) -> bytes:
    """The raw body of an answer.

    With `_preload_content=False` kubernetes-asyncio hands back any answer, errors included, so
    a status other than 2xx is raised here as the `ApiException` the call would have raised.
    """
    data: bytes = await resp.read()
    resp.release()
    if not 200 <= resp.status <= 299:
        exc = ApiException(status=resp.status, reason=f"{resp.reason}: {data[:500].decode(errors='replace')}")
        exc.body = data
        raise exc
    return data
