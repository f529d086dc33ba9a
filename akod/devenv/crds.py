"""AKO's CRDs in a dev apiserver: installed from `deploy/crds/`, waited for, and removed again.

A CRD is usable only once the apiserver says it is `Established`; creating a CR before that is
refused (404), so `install` waits for the condition (with a deadline, never a fixed sleep). The
tests share one apiserver per session, and a daemon started while the CRDs exist watches them, so
the tests that need the CRDs remove them afterwards (`remove`, which waits until the API is gone)
and every other test sees a cluster without them, as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from akod.devenv.polling import eventually

CRD_DIR = Path(__file__).resolve().parents[2] / "deploy" / "crds"
ALL = ("hostrules", "httprules", "aviinfrasettings", "l4rules")
GROUP = "ako.vmware.com"


def manifest(plural: str) -> dict[str, Any]:
    """The CRD of `plural` as `deploy/crds/` ships it."""
    loaded: dict[str, Any] = yaml.safe_load((CRD_DIR / f"{GROUP}_{plural}.yaml").read_text())
    return loaded


async def install(api: client.ApiClient, plurals: Sequence[str] = ALL, *,
                  manifests: Sequence[dict[str, Any]] = (), timeout: float = 30) -> None:
    """Create (or replace) the CRDs and wait until each is Established and served."""
    ext = client.ApiextensionsV1Api(api)
    bodies = list(manifests) or [manifest(p) for p in plurals]
    for body in bodies:
        name = body["metadata"]["name"]
        try:
            await ext.create_custom_resource_definition(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            current = await ext.read_custom_resource_definition(name)
            body = {**body, "metadata": {**body["metadata"], "resourceVersion": current.metadata.resource_version}}
            await ext.replace_custom_resource_definition(name, body)

    async def established() -> bool:
        for body in bodies:
            crd = await ext.read_custom_resource_definition(body["metadata"]["name"])
            conditions = (crd.status.conditions if crd.status else None) or []
            if not any(c.type == "Established" and c.status == "True" for c in conditions):
                return False
        return True

    await eventually(established, timeout=timeout, what="the CRDs to be Established")


async def remove(api: client.ApiClient, plurals: Sequence[str] = ALL, *, timeout: float = 60) -> None:
    """Delete the CRDs (their CRs go with them) and wait until the apiserver no longer serves them."""
    ext = client.ApiextensionsV1Api(api)
    for plural in plurals:
        with contextlib.suppress(ApiException):
            await ext.delete_custom_resource_definition(f"{plural}.{GROUP}")

    async def gone() -> bool:
        for plural in plurals:
            try:
                await ext.read_custom_resource_definition(f"{plural}.{GROUP}")
            except ApiException as exc:
                if exc.status == 404:
                    continue
                raise
            return False
        return True

    await eventually(gone, timeout=timeout, what="the CRDs to be removed")


class HostRules:
    """HostRules made by a test (`ako.vmware.com/v1beta1`), through the custom objects API."""

    VERSION = "v1beta1"
    PLURAL = "hostrules"

    def __init__(self, api: client.ApiClient) -> None:
        self.custom = client.CustomObjectsApi(api)

    async def create(self, ns: str, name: str, virtualhost: dict[str, Any]) -> dict[str, Any]:
        body = {"apiVersion": f"{GROUP}/{self.VERSION}", "kind": "HostRule", "metadata": {"name": name},
                "spec": {"virtualhost": virtualhost}}
        made: dict[str, Any] = await self.custom.create_namespaced_custom_object(GROUP, self.VERSION, ns,
                                                                                 self.PLURAL, body)
        return made

    async def patch(self, ns: str, name: str, virtualhost: dict[str, Any]) -> None:
        await self.custom.patch_namespaced_custom_object(GROUP, self.VERSION, ns, self.PLURAL, name,
                                                         {"spec": {"virtualhost": virtualhost}},
                                                         _content_type="application/merge-patch+json")

    async def replace_virtualhost(self, ns: str, name: str, virtualhost: dict[str, Any]) -> None:
        current = await self.get(ns, name)
        current["spec"] = {"virtualhost": virtualhost}
        await self.custom.replace_namespaced_custom_object(GROUP, self.VERSION, ns, self.PLURAL, name, current)

    async def get(self, ns: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.custom.get_namespaced_custom_object(GROUP, self.VERSION, ns,
                                                                               self.PLURAL, name)
        return found

    async def status(self, ns: str, name: str) -> dict[str, str]:
        return dict((await self.get(ns, name)).get("status") or {})

    async def events_for(self, ns: str, name: str) -> list[Any]:
        events = await client.CoreV1Api(self.custom.api_client).list_namespaced_event(ns)
        return [e for e in events.items if e.involved_object.name == name and e.involved_object.kind == "HostRule"]

    async def delete(self, ns: str, name: str) -> None:
        with contextlib.suppress(ApiException):
            await self.custom.delete_namespaced_custom_object(GROUP, self.VERSION, ns, self.PLURAL, name)

    async def delete_all(self, ns: str = "default") -> None:
        listed = await self.custom.list_namespaced_custom_object(GROUP, self.VERSION, ns, self.PLURAL)
        for item in listed.get("items") or []:
            await self.delete(ns, item["metadata"]["name"])


class L4Rules:
    """L4Rules made by a test (`ako.vmware.com/v1alpha2`), through the custom objects API."""

    VERSION = "v1alpha2"
    PLURAL = "l4rules"

    def __init__(self, api: client.ApiClient) -> None:
        self.custom = client.CustomObjectsApi(api)

    async def create(self, ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {"apiVersion": f"{GROUP}/{self.VERSION}", "kind": "L4Rule", "metadata": {"name": name}, "spec": spec}
        made: dict[str, Any] = await self.custom.create_namespaced_custom_object(GROUP, self.VERSION, ns,
                                                                                 self.PLURAL, body)
        return made

    async def patch(self, ns: str, name: str, spec: dict[str, Any]) -> None:
        await self.custom.patch_namespaced_custom_object(GROUP, self.VERSION, ns, self.PLURAL, name, {"spec": spec},
                                                         _content_type="application/merge-patch+json")

    async def get(self, ns: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.custom.get_namespaced_custom_object(GROUP, self.VERSION, ns,
                                                                               self.PLURAL, name)
        return found

    async def status(self, ns: str, name: str) -> dict[str, str]:
        return dict((await self.get(ns, name)).get("status") or {})

    async def events_for(self, ns: str, name: str) -> list[Any]:
        events = await client.CoreV1Api(self.custom.api_client).list_namespaced_event(ns)
        return [e for e in events.items if e.involved_object.name == name and e.involved_object.kind == "L4Rule"]

    async def delete(self, ns: str, name: str) -> None:
        with contextlib.suppress(ApiException):
            await self.custom.delete_namespaced_custom_object(GROUP, self.VERSION, ns, self.PLURAL, name)

    async def delete_all(self, ns: str = "default") -> None:
        listed = await self.custom.list_namespaced_custom_object(GROUP, self.VERSION, ns, self.PLURAL)
        for item in listed.get("items") or []:
            await self.delete(ns, item["metadata"]["name"])
