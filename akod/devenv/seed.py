"""The seed scenario on the Kubernetes side: its Nodes, Services and Ingresses, and how to make them.

The seed is the lab akod is checked against (the emulator's ``--fixtures seed`` is its controller
side): cluster S1-AZ1 with three nodes whose pod CIDRs become static routes in VRF_AZ1, and the
demo's two applications, hackazon (plain HTTP) and kuard (TLS), each a LoadBalancer Service with
an Ingress. Tests, benchmarks and ``akod demo`` all build it from this one description.

No controller-manager or kubelet runs next to the test apiserver, so what they would do is done
here by hand: a Node's addresses are written to its status, and each Service gets an Endpoints
object with the pod IPs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from akod.devenv.certs import self_signed, tls_secret

INGRESS_CLASS = "avi-lb"
INGRESS_CONTROLLER = "ako.vmware.com/avi-lb"


class SeedNode(NamedTuple):
    name: str
    ip: str
    pod_cidrs: list[str]


class SeedService(NamedTuple):
    name: str
    port: int
    pods: list[str]


class SeedIngress(NamedTuple):
    name: str
    host: str
    port: int
    tls: bool


SEED_NODES = [
    SeedNode("site1-az1-k8s-master01", "10.10.30.11", ["10.34.0.0/24"]),
    SeedNode("site1-az1-k8s-worker01", "10.10.30.12", ["10.34.1.0/24"]),
    SeedNode("site1-az1-k8s-worker02", "10.10.30.13", ["10.34.2.0/24"]),
]
SEED_SERVICES = [SeedService("hackazon", 80, ["10.34.1.10"]), SeedService("kuard", 8080, ["10.34.1.11", "10.34.2.12"])]
SEED_INGRESSES = [SeedIngress("hackazon", "hackazon.avi.iberia.local", 80, False),
                  SeedIngress("kuard", "kuard.avi.iberia.local", 8080, True)]
# A route an operator added by hand to the seed's VRF: akod must leave it alone.
HAND_MADE_ROUTE: dict[str, Any] = {
    "route_id": "hand-made-1", "prefix": {"ip_addr": {"addr": "192.168.50.0", "type": "V4"}, "mask": 24},
    "next_hop": {"addr": "10.10.25.1", "type": "V4"}}


class IngressWriter(Protocol):
    """kubernetes-asyncio's ``NetworkingV1Api``, or ``akod.devenv.ingressapi.IngressApi`` (any version)."""

    async def create_ingress_class(self, body: Any) -> Any: ...

    async def create_namespaced_ingress(self, namespace: str, body: Any) -> Any: ...


def _model(manifest: dict[str, Any]) -> Any:
    """kubernetes-asyncio serialises a plain dict wherever its signatures name a V1 model class."""
    return manifest


async def create_node(core: client.CoreV1Api, *, name: str, ip: str | None, cidrs: Sequence[str] | None,
                      annotations: Mapping[str, str] | None = None, exist_ok: bool = False) -> None:
    """A Node with pod CIDR(s) `cidrs` and, as a kubelet would report it, InternalIP `ip`."""
    spec: dict[str, Any] = {"podCIDR": cidrs[0], "podCIDRs": list(cidrs)} if cidrs else {}
    try:
        await core.create_node(_model({"metadata": {"name": name, "annotations": dict(annotations or {})},
                                       "spec": spec}))
    except ApiException as exc:
        if not (exist_ok and exc.status == 409):
            raise
    if ip is not None:
        await core.patch_node_status(name, {"status": {"addresses": [
            {"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}})


async def create_seed_nodes(core: client.CoreV1Api, *, exist_ok: bool = False) -> None:
    """The seed's three Nodes (`exist_ok`: a Node already there is only given its addresses again)."""
    for node in SEED_NODES:
        await create_node(core, name=node.name, ip=node.ip, cidrs=node.pod_cidrs, exist_ok=exist_ok)


async def create_seed_services(core: client.CoreV1Api, *, namespace: str = "default") -> None:
    """hackazon and kuard as LoadBalancer Services, with Endpoints listing their pods."""
    for svc in SEED_SERVICES:
        await core.create_namespaced_service(namespace, _model({
            "metadata": {"name": svc.name},
            "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": svc.port, "targetPort": svc.port}]}}))
        await core.create_namespaced_endpoints(namespace, _model({
            "metadata": {"name": svc.name},
            "subsets": [{"addresses": [{"ip": ip} for ip in svc.pods],
                         "ports": [{"name": "http", "port": svc.port}]}]}))


async def create_ingress_class(net: IngressWriter, *, name: str = INGRESS_CLASS,
                               controller: str = INGRESS_CONTROLLER) -> None:
    """The IngressClass akod serves (`avi-lb`, controller ako.vmware.com/avi-lb)."""
    await net.create_ingress_class(_model({"metadata": {"name": name}, "spec": {"controller": controller}}))


async def create_seed_ingresses(core: client.CoreV1Api, net: IngressWriter, *,
                                namespace: str = "default") -> None:
    """The IngressClass, then an Ingress per seed application; kuard's with a TLS Secret made on the spot."""
    await create_ingress_class(net)
    for ing in SEED_INGRESSES:
        spec: dict[str, Any] = {"ingressClassName": INGRESS_CLASS, "rules": [{"host": ing.host, "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": ing.name, "port": {"number": ing.port}}}}]}}]}
        if ing.tls:
            cert, key = self_signed(ing.host)
            await core.create_namespaced_secret(namespace, _model(tls_secret(f"{ing.name}-tls", cert=cert, key=key)))
            spec["tls"] = [{"hosts": [ing.host], "secretName": f"{ing.name}-tls"}]
        await net.create_namespaced_ingress(namespace, _model({"metadata": {"name": ing.name}, "spec": spec}))
