"""API discovery picks each resource's best served version: Kubernetes 1.18 to current, never by version number."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from akod.kube.resources import Resolution, resolve
from akod.kube.status import ObjectApi

L7 = ["namespaces", "nodes", "ingressclasses", "secrets", "services", "endpoints", "ingresses"]
CORE = ["namespaces", "nodes", "secrets", "services", "endpoints"]
# group/version -> the plurals a server serves there (absent: 404), per API surface.
CURRENT = {"v1": CORE, "networking.k8s.io/v1": ["ingresses", "ingressclasses", "networkpolicies"],
           "networking.k8s.io/v1beta1": ["ingresses", "ingressclasses"], "extensions/v1beta1": ["ingresses"],
           "discovery.k8s.io/v1beta1": ["endpointslices"]}
K8S_1_18 = {k: v for k, v in CURRENT.items() if k != "networking.k8s.io/v1"}
K8S_1_17 = {"v1": CORE, "extensions/v1beta1": ["ingresses"]}
K8S_1_21 = {**CURRENT, "discovery.k8s.io/v1": ["endpointslices"]}


class _Resp:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self._data = json.dumps(body).encode()

    async def read(self) -> bytes:
        return self._data

    def release(self) -> None:
        pass


class DiscoveryApi:
    """Answers `/api/v1` and `/apis/<group>/<version>` like an apiserver of one surface."""

    def __init__(self, served: dict[str, list[str]]) -> None:
        self.served = served
        self.asked: list[str] = []

    async def call_api(self, path: str, method: str, *args: Any, **kw: Any) -> _Resp:
        self.asked.append(path)
        gv = "v1" if path == "/api/v1" else path.removeprefix("/apis/")
        if gv not in self.served:
            return _Resp(404, {"kind": "Status", "message": "the server could not find the requested resource"})
        resources = [{"name": r} for r in self.served[gv]] + [{"name": f"{r}/status"} for r in self.served[gv]]
        return _Resp(200, {"groupVersion": gv, "resources": resources})


def _resolve(served: dict[str, list[str]]) -> tuple[Resolution, DiscoveryApi]:
    api = DiscoveryApi(served)
    return asyncio.run(resolve(api, L7)), api  # type: ignore[arg-type]


@pytest.mark.parametrize(("surface", "ingresses", "classes", "endpoints"), [
    (K8S_1_21, "networking.k8s.io/v1/ingresses", "networking.k8s.io/v1/ingressclasses",
     "discovery.k8s.io/v1/endpointslices"),
    (CURRENT, "networking.k8s.io/v1/ingresses", "networking.k8s.io/v1/ingressclasses", "v1/endpoints"),
    (K8S_1_18, "networking.k8s.io/v1beta1/ingresses", "networking.k8s.io/v1beta1/ingressclasses", "v1/endpoints"),
])
def test_each_resource_comes_from_the_best_version_the_server_serves(
        surface: dict[str, list[str]], ingresses: str, classes: str, endpoints: str) -> None:
    resolution, _ = _resolve(surface)
    chosen = {name: v.api for name, v in resolution.chosen.items()}
    assert (chosen["ingresses"], chosen["ingressclasses"], chosen["endpoints"]) == (ingresses, classes, endpoints)
    assert resolution.missing == {}
    assert [s.resource for s in resolution.specs if s.kind == "Ingress"] == [resolution.chosen["ingresses"].cursor_name]


def test_without_networking_ingresses_come_from_extensions_and_the_missing_class_api_is_reported() -> None:
    resolution, _ = _resolve(K8S_1_17)
    assert resolution.chosen["ingresses"].api == "extensions/v1beta1/ingresses"
    assert resolution.targets["Ingress"] == ObjectApi(group_version="extensions/v1beta1", plural="ingresses")
    assert set(resolution.missing) == {"ingressclasses"}
    assert "networking.k8s.io/v1beta1/ingressclasses" in resolution.missing["ingressclasses"]
    assert not [s for s in resolution.specs if s.kind == "IngressClass"]  # not watched: never listed


def test_each_group_version_is_asked_once() -> None:
    _, api = _resolve(K8S_1_17)
    assert len(api.asked) == len(set(api.asked))


def test_optional_cni_resources_not_served_are_absent_not_missing_and_served_ones_are_watched() -> None:
    cni = ["nodes", "blockaffinities", "ciliumnodes", "hostsubnets"]
    api = DiscoveryApi({**CURRENT, "cilium.io/v2": ["ciliumnodes", "ciliumendpoints"]})
    resolution = asyncio.run(resolve(api, cni, optional=cni[1:]))  # type: ignore[arg-type]
    assert resolution.missing == {}
    assert set(resolution.absent) == {"blockaffinities", "hostsubnets"}
    assert resolution.unserved == {"blockaffinities", "hostsubnets"}
    assert resolution.chosen["ciliumnodes"].api == "cilium.io/v2/ciliumnodes"
    assert resolution.targets["CiliumNode"].group_version == "cilium.io/v2"
    assert [s.resource for s in resolution.specs] == ["nodes", "ciliumnodes"]


def test_a_cni_resource_the_configuration_names_is_missing_when_not_served() -> None:
    api = DiscoveryApi(CURRENT)
    resolution = asyncio.run(resolve(api, ["nodes", "blockaffinities"]))  # type: ignore[arg-type]
    assert "crd.projectcalico.org/v1/blockaffinities" in resolution.missing["blockaffinities"]


def test_a_cluster_without_akos_crds_reports_them_absent_not_missing_and_watches_them_where_installed() -> None:
    without = asyncio.run(resolve(DiscoveryApi(CURRENT), [*L7, "hostrules"]))  # type: ignore[arg-type]
    assert without.missing == {} and set(without.absent) == {"hostrules"}
    assert "deploy/crds" in without.absent["hostrules"]
    served = {**CURRENT, "ako.vmware.com/v1beta1": ["hostrules", "httprules", "aviinfrasettings"]}
    found = asyncio.run(resolve(DiscoveryApi(served), [*L7, "hostrules"]))  # type: ignore[arg-type]
    assert found.absent == {} and found.chosen["hostrules"].kind == "HostRule"
    assert found.targets["HostRule"].path(namespace="default", name="r", subresource="status") == \
        "/apis/ako.vmware.com/v1beta1/namespaces/default/hostrules/r/status"
    assert ObjectApi(group_version="ako.vmware.com/v1beta1", plural="aviinfrasettings").path(
        namespace="", name="infra") == "/apis/ako.vmware.com/v1beta1/aviinfrasettings/infra"
