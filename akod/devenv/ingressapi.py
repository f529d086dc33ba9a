"""Ingresses and IngressClasses through whichever API the apiserver serves, described in the v1 shape.

Tests, the demo and the benchmarks describe Ingresses as `networking.k8s.io/v1` bodies. On an
apiserver with the Kubernetes 1.18 API surface (``API_SURFACE_1_18`` of ``akod.devenv.apiserver``)
the v1 path answers 404, and the same Ingress must be written as `networking.k8s.io/v1beta1`
(``backend.serviceName``/``servicePort`` instead of ``backend.service.name``/``port``,
``spec.backend`` instead of ``spec.defaultBackend``), as a user of such a cluster writes it.

:class:`IngressApi` finds the version by discovery (its own, a few lines: the harness must not
rely on the code it checks), converts v1 bodies when the server needs v1beta1 (:func:`to_v1beta1`),
and reads objects back as the server serves them, as plain dicts (the status has one shape in
both versions). Its method names are those of kubernetes-asyncio's ``NetworkingV1Api``, so the
seed's helpers take either.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

__all__ = ["INGRESS_VERSIONS", "IngressApi", "to_v1beta1"]

# Best first, as akod chooses them.
INGRESS_VERSIONS = ("networking.k8s.io/v1", "networking.k8s.io/v1beta1", "extensions/v1beta1")
CLASS_VERSIONS = ("networking.k8s.io/v1", "networking.k8s.io/v1beta1")
MERGE_PATCH = "application/merge-patch+json"


def _backend_v1beta1(backend: Mapping[str, Any]) -> dict[str, Any]:
    service = backend.get("service")
    if not service:
        return dict(backend)  # a `resource` backend has one shape in both versions
    port = service.get("port") or {}
    return {"serviceName": service.get("name"),
            "servicePort": port["number"] if port.get("number") is not None else port.get("name")}


def to_v1beta1(body: Mapping[str, Any]) -> dict[str, Any]:
    """A v1 Ingress body (or only its `spec.rules`, in a body) as networking.k8s.io/v1beta1 writes it."""
    out = copy.deepcopy(dict(body))
    out.pop("apiVersion", None)
    spec = out.get("spec") or {}
    if "defaultBackend" in spec:
        spec["backend"] = _backend_v1beta1(spec.pop("defaultBackend"))
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            if "backend" in path:
                path["backend"] = _backend_v1beta1(path["backend"])
    return out


async def _served(api: ApiClient, group_version: str) -> set[str]:
    """The plural names `group_version` serves ({} when the server does not serve it)."""
    try:
        data = await _call(api, "GET", f"/apis/{group_version}")
    except ApiException as exc:
        if exc.status == 404:
            return set()
        raise
    return {str(r.get("name")) for r in data.get("resources") or []}


async def _call(api: ApiClient, method: str, path: str, body: Any = None,
                content_type: str = "application/json") -> dict[str, Any]:
    resp = await api.call_api(path, method, {}, [], {"Accept": "application/json", "Content-Type": content_type},
                              body=body, auth_settings=["BearerToken"], response_types_map={},
                              _preload_content=False, _return_http_data_only=True)
    try:
        data = await resp.read()
    finally:
        resp.release()
    if not 200 <= resp.status <= 299:
        raise ApiException(status=resp.status, reason=f"{method} {path}: {data[:300].decode(errors='replace')}")
    answer: dict[str, Any] = json.loads(data) if data else {}
    return answer


class IngressApi:
    """Ingresses in `ingress_version`, IngressClasses in `class_version` (None: the server has none)."""

    def __init__(self, api: ApiClient, *, ingress_version: str, class_version: str | None) -> None:
        self.api = api
        self.ingress_version = ingress_version
        self.class_version = class_version

    @classmethod
    async def discover(cls, api: ApiClient) -> IngressApi:
        """The best version of each the server serves (Ingress: v1, else v1beta1, else extensions)."""
        ingress = [v for v in INGRESS_VERSIONS if "ingresses" in await _served(api, v)]
        classes = [v for v in CLASS_VERSIONS if "ingressclasses" in await _served(api, v)]
        if not ingress:
            raise LookupError("the apiserver serves Ingresses in none of " + ", ".join(INGRESS_VERSIONS))
        return cls(api, ingress_version=ingress[0], class_version=classes[0] if classes else None)

    @property
    def v1(self) -> bool:
        return self.ingress_version == INGRESS_VERSIONS[0]

    def as_served(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A v1 Ingress body in the shape this server takes."""
        return copy.deepcopy(dict(body)) if self.v1 else to_v1beta1(body)

    def _ingresses(self, namespace: str = "", name: str = "") -> str:
        where = f"/apis/{self.ingress_version}" + (f"/namespaces/{namespace}" if namespace else "")
        return f"{where}/ingresses" + (f"/{name}" if name else "")

    def _classes(self, name: str = "") -> str:
        if self.class_version is None:
            raise LookupError("the apiserver serves no IngressClass API")
        return f"/apis/{self.class_version}/ingressclasses" + (f"/{name}" if name else "")

    # -- Ingresses (bodies given in the v1 shape, answers as served) ----------------------------------

    async def create_namespaced_ingress(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await _call(self.api, "POST", self._ingresses(namespace), self.as_served(body))

    async def read_namespaced_ingress(self, name: str, namespace: str) -> dict[str, Any]:
        return await _call(self.api, "GET", self._ingresses(namespace, name))

    async def replace_namespaced_ingress(self, name: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT `body`, which is in the served shape (read it, change it, put it back)."""
        return await _call(self.api, "PUT", self._ingresses(namespace, name), dict(body))

    async def patch_namespaced_ingress(self, name: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A merge patch; a `spec` in it is in the v1 shape and converted."""
        return await _call(self.api, "PATCH", self._ingresses(namespace, name), self.as_served(body), MERGE_PATCH)

    async def delete_namespaced_ingress(self, name: str, namespace: str) -> dict[str, Any]:
        return await _call(self.api, "DELETE", self._ingresses(namespace, name))

    async def list_ingress_for_all_namespaces(self) -> list[dict[str, Any]]:
        return list((await _call(self.api, "GET", self._ingresses())).get("items") or [])

    async def list_namespaced_ingress(self, namespace: str) -> list[dict[str, Any]]:
        return list((await _call(self.api, "GET", self._ingresses(namespace))).get("items") or [])

    # -- IngressClasses (one shape in both versions) ------------------------------------------------

    async def create_ingress_class(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return await _call(self.api, "POST", self._classes(), dict(body))

    async def delete_ingress_class(self, name: str) -> dict[str, Any]:
        return await _call(self.api, "DELETE", self._classes(name))
