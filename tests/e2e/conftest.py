"""Fixtures for end-to-end tests: the emulator (strict mode, seed fixtures), Nodes, and akod itself.

The emulator process, its REST client (`Controller`) and the seed's Nodes come from `akod.devenv`,
shared with the benchmarks and the demo; they are re-exported here under the names tests import.

Nodes are cluster-scoped and the apiserver is shared by the whole session, so every test starts
and ends with no Node at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from akod.devenv.controller import Controller
from akod.devenv.ingressapi import IngressApi
from akod.devenv.processes import EmulatorProcess
from akod.devenv.seed import SEED_NODES, create_node, create_seed_nodes
from tests.e2e.harness import DaemonProcess

__all__ = ["SEED_NODES", "Controller", "EmulatorProcess", "Nodes", "hops", "ours"]


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


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    emu = EmulatorProcess()
    yield emu
    emu.close()


@pytest.fixture
def controller(emulator: EmulatorProcess) -> Controller:
    return Controller(emulator.url)


class Nodes:
    """The session's Nodes, made and removed by hand (no kubelet registers any)."""

    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)

    async def create(self, name: str, *, ip: str | None, cidrs: list[str] | None,
                     annotations: dict[str, str] | None = None) -> None:
        await create_node(self.core, name=name, ip=ip, cidrs=cidrs, annotations=annotations)

    async def seed(self) -> None:
        await create_seed_nodes(self.core)

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


async def delete_ingresses(net: IngressApi) -> None:
    """Ingresses left by other tests would be served by the next daemon: every test starts without."""
    for ing in await net.list_ingress_for_all_namespaces():
        with contextlib.suppress(ApiException):
            await net.delete_namespaced_ingress(ing["metadata"]["name"], ing["metadata"]["namespace"])


@pytest.fixture
async def ingresses(kube_client: client.ApiClient) -> AsyncIterator[Any]:
    """Ingresses in the API version the session's apiserver (or the one the test runs on) serves."""
    from tests.e2e.ingresses import Ingresses

    net = await IngressApi.discover(kube_client)
    await delete_ingresses(net)
    made = Ingresses(kube_client, net=net)
    await made.ensure_class()
    yield made
    await made.delete_all()
    await delete_ingresses(net)


@pytest.fixture
def make_daemon(tmp_path: Path, kubeconfig: Path, emulator: EmulatorProcess) -> Iterator[Any]:
    made: list[DaemonProcess] = []

    def make(name: str = "akod", *, identity: Path | None = None, **kwargs: Any) -> DaemonProcess:
        """A daemon for the emulator; `identity`: another kubeconfig than the admin's."""
        d = DaemonProcess(workdir=tmp_path / name, kubeconfig=identity or kubeconfig, controller_url=emulator.url,
                          **kwargs)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()
