"""Fixtures every layer's tests share: one real Kubernetes API per test session (and API surface).

The kube-apiserver (with etcd) is started lazily, by the first test that asks for it, and stopped
at the end of the session; tests that do not need it never pay its ~4 s start or its ~370 MB.
Tests that must hold on older clusters too parametrize `kube_apiserver` indirectly with a surface
name of `SURFACES` (`on_every_api_surface`): `k8s-1.18` is the same apiserver started with
Ingress and IngressClass only in v1beta1, started once, when the first such test runs.
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

from akod.devenv.apiserver import API_SURFACE_1_18, KubeApiServer

KUBE_FIXTURES = {"kube_apiserver", "kubeconfig", "kube_client", "kube_namespace"}
CURRENT, K8S_1_18 = "current", "k8s-1.18"
EXTENSIONS_ONLY, NO_INGRESS_API = "extensions-only", "no-ingress-api"
DUAL_STACK = "dual-stack"
# API surface -> the extra apiserver flags that give it.
SURFACES: dict[str, tuple[str, ...]] = {
    CURRENT: (),
    K8S_1_18: API_SURFACE_1_18,
    # Ingress only as extensions/v1beta1 and no IngressClass API (what Kubernetes <= 1.17 serves).
    EXTENSIONS_ONLY: ("--runtime-config=networking.k8s.io/v1=false,networking.k8s.io/v1beta1=false",
                      "--disable-admission-plugins=DefaultIngressClass"),
    # No Ingress API in any version (as if a cluster removed them): akod must report it, not spin.
    NO_INGRESS_API: ("--runtime-config=networking.k8s.io/v1=false,networking.k8s.io/v1beta1=false,"
                     "extensions/v1beta1=false", "--disable-admission-plugins=DefaultIngressClass"),
    # Dual stack: 1.20 keeps a Node's second pod CIDR and a Service's ipFamilies only with the
    # IPv6DualStack gate and a service range of each family (tests/e2e/test_ip_family.py).
    DUAL_STACK: ("--feature-gates=IPv6DualStack=true", "--service-cluster-ip-range=10.96.0.0/16,fd00:96::/108"),
}
# `pytestmark = on_every_api_surface`: each test of the module runs on the current API and on 1.18's.
on_every_api_surface = pytest.mark.parametrize("kube_apiserver", [CURRENT, K8S_1_18], indirect=True)
# A user known to the apiserver with no roles: RBAC tests bind the daemon's ClusterRole to it.
LIMITED_USER = "akod"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kube: uses the real kube-apiserver of the session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if KUBE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kube)


class ApiServers:
    """The session's apiservers, one per API surface, each started the first time a test asks for it."""

    def __init__(self) -> None:
        self.running: dict[str, KubeApiServer] = {}

    def get(self, surface: str) -> KubeApiServer:
        if surface not in self.running:
            self.running[surface] = KubeApiServer(users=(LIMITED_USER,), extra_args=SURFACES[surface]).start()
        return self.running[surface]

    def stop(self, surface: str) -> None:
        """Stop one surface's apiserver early (a module's own); asked for again, it starts afresh."""
        server = self.running.pop(surface, None)
        if server is not None:
            server.stop()

    def stop_all(self) -> None:
        for surface in list(self.running):
            self.stop(surface)


@pytest.fixture(scope="session")
def kube_apiservers() -> Iterator[ApiServers]:
    pool = ApiServers()
    yield pool
    pool.stop_all()


@pytest.fixture(scope="session")
def kube_apiserver(request: pytest.FixtureRequest, kube_apiservers: ApiServers) -> KubeApiServer:
    """etcd + kube-apiserver 1.20.2 on loopback, watch cache off so compact_etcd() forces 410.

    Indirectly parametrized with a name of `SURFACES`, the apiserver of that API surface.
    """
    return kube_apiservers.get(getattr(request, "param", CURRENT))


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
