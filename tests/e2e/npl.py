"""Pods as antrea-agent and the kubelet would leave them, for the NodePortLocal tests (no agent runs here).

The test apiserver has no scheduler, kubelet or Antrea: a pod is created already bound to a node
(`spec.nodeName`), its readiness is written to its status by hand, and the annotation
`nodeportlocal.antrea.io` is written as antrea-agent writes it (a JSON list of
`{podPort, nodeIP, nodePort, protocol}`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kubernetes_asyncio import client

NPL = "nodeportlocal.antrea.io"
NPL_ENABLED = "nodeportlocal.antrea.io/enabled"


def mapping(pod_port: int, node_ip: str, node_port: int, *, protocol: str = "TCP") -> dict[str, Any]:
    return {"podPort": pod_port, "nodeIP": node_ip, "nodePort": node_port, "protocol": protocol}


class Pods:
    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)

    async def create(self, ns: str, name: str, *, labels: dict[str, str], node: str,
                     ports: Sequence[tuple[str, int]] = (), npl: Sequence[dict[str, Any]] | str | None = None,
                     ready: bool = True) -> None:
        annotations = {} if npl is None else {NPL: npl if isinstance(npl, str) else json.dumps(list(npl))}
        await self.core.create_namespaced_pod(ns, {
            "metadata": {"name": name, "labels": labels, "annotations": annotations},
            "spec": {"nodeName": node, "containers": [{
                "name": "app", "image": "registry.invalid/app:1",
                "ports": [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports]}]}})
        await self.set_ready(ns, name, ready)

    async def set_ready(self, ns: str, name: str, ready: bool) -> None:
        await self.core.patch_namespaced_pod_status(name, ns, {"status": {
            "phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}})

    async def set_npl(self, ns: str, name: str, npl: Sequence[dict[str, Any]] | str | None) -> None:
        value = None if npl is None else (npl if isinstance(npl, str) else json.dumps(list(npl)))
        await self.core.patch_namespaced_pod(name, ns, {"metadata": {"annotations": {NPL: value}}})

    async def delete(self, ns: str, name: str) -> None:
        await self.core.delete_namespaced_pod(name, ns, grace_period_seconds=0)


async def create_service(core: client.CoreV1Api, ns: str, name: str, *, port: int, target: int | str,
                         selector: dict[str, str], svc_type: str = "LoadBalancer",
                         annotations: dict[str, str] | None = None, families: Sequence[str] = ()) -> None:
    spec: dict[str, Any] = {"type": svc_type, "selector": selector,
                            "ports": [{"name": "http", "port": port, "targetPort": target, "protocol": "TCP"}]}
    if families:
        spec["ipFamilies"] = list(families)
        spec["ipFamilyPolicy"] = "RequireDualStack" if len(families) > 1 else "SingleStack"
    await core.create_namespaced_service(ns, {"metadata": {"name": name, "annotations": annotations or {}},
                                              "spec": spec})


async def annotations_of(core: client.CoreV1Api, ns: str, name: str) -> dict[str, str]:
    svc = await core.read_namespaced_service(name, ns)
    return dict(svc.metadata.annotations or {})
