"""HTTPRules made by a test (`ako.vmware.com/v1beta1`), through the custom objects API.

The sibling of `crds.HostRules` (kept in its own module so that each CRD's helper is added
without touching the others'): create, patch, read the status and the Events of, delete.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from akod.devenv.crds import GROUP


class HTTPRules:
    VERSION = "v1beta1"
    PLURAL = "httprules"
    KIND = "HTTPRule"

    def __init__(self, api: client.ApiClient) -> None:
        self.custom = client.CustomObjectsApi(api)

    async def create(self, ns: str, name: str, *, fqdn: str, paths: list[dict[str, Any]]) -> dict[str, Any]:
        body = {"apiVersion": f"{GROUP}/{self.VERSION}", "kind": self.KIND, "metadata": {"name": name},
                "spec": {"fqdn": fqdn, "paths": paths}}
        made: dict[str, Any] = await self.custom.create_namespaced_custom_object(GROUP, self.VERSION, ns,
                                                                                 self.PLURAL, body)
        return made

    async def replace_paths(self, ns: str, name: str, paths: list[dict[str, Any]]) -> None:
        current = await self.get(ns, name)
        current["spec"] = {**current.get("spec", {}), "paths": paths}
        await self.custom.replace_namespaced_custom_object(GROUP, self.VERSION, ns, self.PLURAL, name, current)

    async def get(self, ns: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.custom.get_namespaced_custom_object(GROUP, self.VERSION, ns,
                                                                               self.PLURAL, name)
        return found

    async def status(self, ns: str, name: str) -> dict[str, str]:
        return dict((await self.get(ns, name)).get("status") or {})

    async def events_for(self, ns: str, name: str) -> list[Any]:
        events = await client.CoreV1Api(self.custom.api_client).list_namespaced_event(ns)
        return [e for e in events.items if e.involved_object.name == name and e.involved_object.kind == self.KIND]

    async def delete(self, ns: str, name: str) -> None:
        with contextlib.suppress(ApiException):
            await self.custom.delete_namespaced_custom_object(GROUP, self.VERSION, ns, self.PLURAL, name)

    async def delete_all(self, ns: str = "default") -> None:
        listed = await self.custom.list_namespaced_custom_object(GROUP, self.VERSION, ns, self.PLURAL)
        for item in listed.get("items") or []:
            await self.delete(ns, item["metadata"]["name"])
