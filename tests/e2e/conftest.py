"""Fixtures for end-to-end tests: the emulator (strict mode, seed fixtures), Nodes, and akod itself.

Nodes are cluster-scoped and the apiserver is shared by the whole session, so every test starts
and ends with no Node at all.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.e2e.harness import DaemonProcess

SEED_NODES = [
    ("site1-az1-k8s-master01", "10.10.30.11", ["10.34.0.0/24"]),
    ("site1-az1-k8s-worker01", "10.10.30.12", ["10.34.1.0/24"]),
    ("site1-az1-k8s-worker02", "10.10.30.13", ["10.34.2.0/24"]),
]


class Controller:
    """Reads and writes the emulator over its real REST API, with basic auth (no akod code)."""

    def __init__(self, url: str, *, password: str = "admin") -> None:
        self.url = url
        token = base64.b64encode(f"admin:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "X-Avi-Version": "20.1.2", "X-Avi-Tenant": "admin",
                         "Content-Type": "application/json"}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http:
            async with http.request(method, self.url + path, json=body, headers=self._headers) as resp:
                text = await resp.text()
                try:
                    return resp.status, await resp.json(content_type=None)
                except ValueError:
                    return resp.status, text

    async def one(self, obj_type: str, name: str) -> dict[str, Any]:
        code, body = await self.call("GET", f"/api/{obj_type}?name={name}")
        assert code == 200 and body["count"] == 1, (code, body)
        return body["results"][0]

    async def maybe(self, obj_type: str, name: str) -> dict[str, Any] | None:
        code, body = await self.call("GET", f"/api/{obj_type}?name={name}")
        assert code == 200, (code, body)
        return body["results"][0] if body["count"] else None

    async def names(self, obj_type: str, contains: str = "S1-AZ1--") -> list[str]:
        code, body = await self.call("GET", f"/api/{obj_type}?name.contains={contains}&page_size=200")
        assert code == 200, (code, body)
        names = [r["name"] for r in body["results"]]
        while body.get("next"):
            nxt = body["next"].split("/api/", 1)[1]
            code, body = await self.call("GET", "/api/" + nxt)
            names += [r["name"] for r in body["results"]]
        return sorted(names)

    async def vrf_routes(self, vrf: str = "VRF_AZ1") -> list[dict[str, Any]]:
        return (await self.one("vrfcontext", vrf)).get("static_routes") or []

    async def add_route(self, route: dict[str, Any], vrf: str = "VRF_AZ1") -> None:
        obj = await self.one("vrfcontext", vrf)
        code, body = await self.call("PATCH", f"/api/vrfcontext/{obj['uuid']}", {"add": {"static_routes": [route]}})
        assert code == 200, body

    async def requests(self) -> list[dict[str, Any]]:
        code, body = await self.call("GET", "/_emulator/requests")
        assert code == 200
        return body if isinstance(body, list) else body.get("requests", body)

    async def writes(self) -> list[dict[str, Any]]:
        return [r for r in await self.requests() if r["method"] in ("POST", "PUT", "PATCH", "DELETE")
                and r["path"].startswith("/api/")]

    async def route(self, *, vip: str, port: int, host: str, path: str = "/") -> tuple[int, dict[str, Any]]:
        """How the data plane would serve `host` + `path` on `vip:port` (the emulator's routing query)."""
        from urllib.parse import urlencode

        query = urlencode({"vip": vip, "port": port, "host": host, "path": path})
        return await self.call("GET", f"/_emulator/route?{query}")

    async def faults(self, spec: dict[str, Any]) -> None:
        code, body = await self.call("POST", "/_emulator/faults", spec)
        assert code == 200, body


def ours(routes: list[dict[str, Any]], cluster: str = "S1-AZ1") -> list[dict[str, Any]]:
    return [r for r in routes if {"key": "clustername", "value": cluster} in (r.get("labels") or [])]


def hops(routes: list[dict[str, Any]], cluster: str = "S1-AZ1") -> dict[str, str]:
    """{prefix/mask: next hop} of the cluster's routes, failing on a duplicate prefix."""
    out: dict[str, str] = {}
    for r in ours(routes, cluster):
        prefix = f"{r['prefix']['ip_addr']['addr']}/{r['prefix']['mask']}"
        assert prefix not in out, f"route for {prefix} twice: {routes}"
        out[prefix] = r["next_hop"]["addr"]
    return out


class EmulatorProcess:
    """`akod emulator` in its own process, as a controller is: tests may block without stalling it."""

    def __init__(self, *, password: str = "admin") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "akod", "emulator", "--port", "0", "--fixtures", "seed", "--strict"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "AKOD_EMULATOR_PASSWORD": password})
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://"), self.url

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    emu = EmulatorProcess()
    yield emu
    emu.close()


@pytest.fixture
def controller(emulator: EmulatorProcess) -> Controller:
    return Controller(emulator.url)


class Nodes:
    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)

    async def create(self, name: str, *, ip: str | None, cidrs: list[str] | None,
                     annotations: dict[str, str] | None = None) -> None:
        spec: dict[str, Any] = {}
        if cidrs:
            spec = {"podCIDR": cidrs[0], "podCIDRs": cidrs}
        await self.core.create_node({"metadata": {"name": name, "annotations": annotations or {}}, "spec": spec})
        if ip is not None:
            await self.core.patch_node_status(name, {"status": {"addresses": [
                {"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}})

    async def seed(self) -> None:
        for name, ip, cidrs in SEED_NODES:
            await self.create(name, ip=ip, cidrs=cidrs)

    async def set_cidr_annotation(self, name: str, value: str | None) -> None:
        await self.core.patch_node(name, {"metadata": {"annotations": {"ako.vmware.com/pod-cidrs": value}}})

    async def delete(self, name: str) -> None:
        await self.core.delete_node(name)

    async def delete_all(self) -> None:
        for node in (await self.core.list_node()).items:
            with contextlib.suppress(ApiException):
                await self.core.delete_node(node.metadata.name)

    async def events_for(self, name: str) -> list[Any]:
        events = await self.core.list_namespaced_event("default")
        return [e for e in events.items if e.involved_object.name == name]


async def delete_load_balancers(api: client.ApiClient) -> None:
    """Other tests leave LoadBalancer Services in namespaces that 1.20 never finishes deleting."""
    core = client.CoreV1Api(api)
    for svc in (await core.list_service_for_all_namespaces()).items:
        if svc.spec.type == "LoadBalancer":
            with contextlib.suppress(ApiException):
                await core.delete_namespaced_service(svc.metadata.name, svc.metadata.namespace)


@pytest.fixture
async def nodes(kube_client: client.ApiClient) -> AsyncIterator[Nodes]:
    n = Nodes(kube_client)
    await n.delete_all()
    await delete_load_balancers(kube_client)
    yield n
    await n.delete_all()
    await delete_load_balancers(kube_client)


@pytest.fixture
async def services(kube_client: client.ApiClient) -> AsyncIterator[Any]:
    from tests.e2e.services import Services

    svc = Services(kube_client)
    yield svc
    await svc.delete_all()


async def delete_ingresses(api: client.ApiClient) -> None:
    """Ingresses left by other tests would be served by the next daemon: every test starts without."""
    net = client.NetworkingV1Api(api)
    for ing in (await net.list_ingress_for_all_namespaces()).items:
        with contextlib.suppress(ApiException):
            await net.delete_namespaced_ingress(ing.metadata.name, ing.metadata.namespace)


@pytest.fixture
async def ingresses(kube_client: client.ApiClient) -> AsyncIterator[Any]:
    from tests.e2e.ingresses import Ingresses

    await delete_ingresses(kube_client)
    made = Ingresses(kube_client)
    await made.ensure_class()
    yield made
    await made.delete_all()
    await delete_ingresses(kube_client)


@pytest.fixture
def make_daemon(tmp_path: Path, kubeconfig: Path, emulator: EmulatorProcess) -> Iterator[Any]:
    made: list[DaemonProcess] = []

    def make(name: str = "akod", **kwargs: Any) -> DaemonProcess:
        d = DaemonProcess(workdir=tmp_path / name, kubeconfig=kubeconfig, controller_url=emulator.url, **kwargs)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()
