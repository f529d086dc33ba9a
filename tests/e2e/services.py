"""Creating LoadBalancer Services and their Endpoints the way a cluster would (no controllers run)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException


class Services:
    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.made: list[tuple[str, str]] = []

    async def create(self, ns: str, name: str, *, ports: Sequence[tuple[int, str]] = ((80, "TCP"),),
                     endpoints: Sequence[str] = (), annotations: dict[str, str] | None = None,
                     lb_ip: str = "", etp: str = "Cluster", svc_type: str = "LoadBalancer",
                     endpoint_nodes: Sequence[str] = ()) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "type": svc_type,
            "ports": [{"name": f"p{port}", "port": port, "protocol": proto, "targetPort": port}
                      for port, proto in ports],
        }
        if svc_type == "LoadBalancer":
            spec["externalTrafficPolicy"] = etp
        if lb_ip:
            spec["loadBalancerIP"] = lb_ip
        svc = await self.core.create_namespaced_service(
            ns, {"metadata": {"name": name, "annotations": annotations or {}}, "spec": spec})
        self.made.append((ns, name))
        await self.set_endpoints(ns, name, ips=endpoints, ports=ports, nodes=endpoint_nodes)
        return svc.to_dict()

    async def set_endpoints(self, ns: str, name: str, *, ips: Sequence[str], ports: Sequence[tuple[int, str]],
                            nodes: Sequence[str] = (), not_ready: Sequence[str] = ()) -> None:
        subset: dict[str, Any] = {"ports": [{"name": f"p{p}", "port": p, "protocol": proto} for p, proto in ports]}
        if ips:
            subset["addresses"] = [{"ip": ip, **({"nodeName": nodes[i]} if i < len(nodes) else {})}
                                   for i, ip in enumerate(ips)]
        if not_ready:
            subset["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
        body = {"metadata": {"name": name}, "subsets": [subset] if (ips or not_ready) else []}
        try:
            await self.core.replace_namespaced_endpoints(name, ns, body)
        except ApiException as exc:
            if exc.status != 404:
                raise
            await self.core.create_namespaced_endpoints(ns, body)

    async def patch(self, ns: str, name: str, body: dict[str, Any]) -> None:
        await self.core.patch_namespaced_service(name, ns, body)

    async def get(self, ns: str, name: str) -> Any:
        return await self.core.read_namespaced_service(name, ns)

    async def delete(self, ns: str, name: str) -> None:
        await self.core.delete_namespaced_service(name, ns)
        with contextlib.suppress(ApiException):
            await self.core.delete_namespaced_endpoints(name, ns)

    async def delete_all(self) -> None:
        for ns, name in self.made:
            with contextlib.suppress(ApiException):
                await self.delete(ns, name)
        self.made.clear()
