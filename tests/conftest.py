"""Fixtures every layer's tests share: one real Kubernetes API per test session.

The kube-apiserver (with etcd) is started lazily, by the first test that asks for it, and stopped
at the end of the session; tests that do not need it never pay its ~4 s start or its ~370 MB.
Each test gets its own namespace, since Kubernetes 1.20 without a controller-manager never
finishes deleting one: a deleted namespace stays ``Terminating`` with its objects, so names must
be unique per test. Cluster-scoped objects (Nodes, ClusterRoles) are shared by the whole session:
give them unique names and delete them.

Tests using the apiserver are marked ``kube``; ``pytest -m "not kube"`` skips them all.
Only ``akod.devenv`` is imported here; each layer's folder adds its own conftest.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from akod.devenv.apiserver import KubeApiServer

KUBE_FIXTURES = {"kube_apiserver", "kubeconfig", "kube_client", "kube_namespace"}
# A user known to the apiserver with no roles: RBAC tests bind the daemon's ClusterRole to it.
LIMITED_USER = "akod"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kube: uses the real kube-apiserver of the session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if KUBE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kube)


@pytest.fixture(scope="session")
def kube_apiserver() -> Iterator[KubeApiServer]:
    """etcd + kube-apiserver 1.20.2 on loopback, watch cache off so compact_etcd() forces 410."""
    with KubeApiServer(users=(LIMITED_USER,)) as server:
        yield server


@pytest.fixture(scope="session")
def kubeconfig(kube_apiserver: KubeApiServer) -> Path:
    """A kubeconfig file for the apiserver's admin (group system:masters)."""
    return kube_apiserver.kubeconfig


@pytest.fixture(scope="session")
async def kube_client(kubeconfig: Path) -> AsyncIterator[client.ApiClient]:
    """A kubernetes-asyncio ApiClient for the admin, with its own Configuration."""
    api = await config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    async with api:
        yield api


@pytest.fixture
async def kube_namespace(kube_client: client.ApiClient, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A fresh namespace named after the test; deleted afterwards (it stays Terminating)."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    name = f"{slug[:52].rstrip('-')}-{secrets.token_hex(4)}"
    core = client.CoreV1Api(kube_client)
    await core.create_namespace({"metadata": {"name": name, "labels": {"akod.test/namespace": "true"}}})
    yield name
    with contextlib.suppress(ApiException):
        await core.delete_namespace(name)
