"""Kubernetes 1.18 to current, chosen by API discovery: what akod watches and writes on older API surfaces.

The seed's clusters run Kubernetes 1.18.10, where Ingress and IngressClass exist only as
`networking.k8s.io/v1beta1` (and Ingress as `extensions/v1beta1`). The same apiserver is started
with those API surfaces (`tests.conftest.SURFACES`); akod must serve the Ingresses through the
version the server has, write their status back through it, and report what the server does not
serve once, never list it in a loop. LISTs are counted on the apiserver's side
(`apiserver_request_total`), not only from what akod says of itself.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from akod.devenv.apiserver import KubeApiServer
from akod.devenv.polling import consistently
from tests.conftest import EXTENSIONS_ONLY, K8S_1_18, LIMITED_USER, NO_INGRESS_API, ApiServers
from tests.e2e.conftest import Controller, Nodes
from tests.e2e.harness import akod_cli, eventually
from tests.e2e.ingresses import Ingresses, path, rule
from tests.e2e.test_l7 import HACK, KUARD, routed, seed_ingresses, shard, vip_of

C = "S1-AZ1"
WINDOW_S = 15.0
RBAC = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes-rbac.yaml"


@pytest.fixture(scope="module", autouse=True)
def _stop_this_modules_apiservers(kube_apiservers: ApiServers) -> Iterator[None]:
    """The surfaces only this module uses do not stay up for the rest of the session."""
    yield
    for surface in (EXTENSIONS_ONLY, NO_INGRESS_API):
        kube_apiservers.stop(surface)


async def apiserver_lists(api: client.ApiClient) -> dict[tuple[str, str], int]:
    """LIST requests the apiserver answered so far, per (group/version, resource), from its own /metrics."""
    resp = await api.call_api("/metrics", "GET", {}, [], {"Accept": "text/plain"}, auth_settings=["BearerToken"],
                              response_types_map={}, _preload_content=False, _return_http_data_only=True)
    text = (await resp.read()).decode()
    resp.release()
    counts: dict[tuple[str, str], int] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{") or 'verb="LIST"' not in line:
            continue
        labels = dict(part.split("=", 1) for part in line[line.index("{") + 1:line.rindex("}")].split(","))
        group, version = labels["group"].strip('"'), labels["version"].strip('"')
        key = (f"{group}/{version}" if group else version, labels["resource"].strip('"'))
        counts[key] = counts.get(key, 0) + int(float(line.rsplit(" ", 1)[1]))
    return counts


async def no_relist_loop(akod: Any, kube_client: client.ApiClient, *, apis: list[tuple[str, str]]) -> None:
    """Over WINDOW_S seconds: no watch of akod lists again, nor does the apiserver see more LISTs of `apis`."""
    before = (await akod.status())["kubernetes"]["watches"]
    lists_before = await apiserver_lists(kube_client)

    async def quiet() -> bool | dict[str, Any]:
        watches = (await akod.status())["kubernetes"]["watches"]
        lists = await apiserver_lists(kube_client)
        relisted = {n: w["relists"] for n, w in watches.items() if w["relists"] > before[n]["relists"]}
        listed = {a: lists.get(a, 0) - lists_before.get(a, 0) for a in apis if lists.get(a, 0) > lists_before.get(a, 0)}
        return not relisted and not listed or {"akod relisted": relisted, "apiserver listed": listed}

    await consistently(quiet, duration=WINDOW_S, interval=1.0, what="no LIST while nothing changes")


@pytest.mark.parametrize("kube_apiserver", [K8S_1_18], indirect=True)
async def test_on_kubernetes_1_18_the_seeds_ingresses_are_served_through_v1beta1_and_listed_once(
        controller: Controller, nodes: Nodes, services: Any, ingresses: Ingresses, make_daemon: Any,
        kube_client: client.ApiClient) -> None:
    assert ingresses.net.ingress_version == "networking.k8s.io/v1beta1"
    await seed_ingresses(services, nodes, ingresses)
    # The class annotation of that era, as AKO reads it: `avi` is ours, another value is not, and
    # without either (and not the default controller) an Ingress is nobody's.
    for name, annotations in (("annotated", {"kubernetes.io/ingress.class": "avi"}),
                              ("theirs", {"kubernetes.io/ingress.class": "nginx"}), ("classless", {})):
        await ingresses.create("default", name, rules=[rule(f"{name}.avi.iberia.local", path("/", "hackazon", 80))],
                               class_name=None, annotations=annotations)
    akod = make_daemon(extra_config="[l7]\ndefault_ing_controller = false\n")
    plan = akod_cli("plan", "--config", str(akod.config))
    assert plan.returncode == 10, plan.stdout + plan.stderr
    assert f"create virtualservice {shard(HACK)}" in plan.stdout and "warning" not in plan.stdout, plan.stdout
    check = akod_cli("check", "--config", str(akod.config))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "kubernetes: ingresses from networking.k8s.io/v1beta1/ingresses" in check.stdout, check.stdout
    assert "kubernetes: ingressclasses from networking.k8s.io/v1beta1/ingressclasses" in check.stdout, check.stdout
    assert "warning" not in check.stderr, check.stderr

    akod.start()
    status = await akod.wait_in_sync()
    kube = status["kubernetes"]
    assert kube["missing"] == {}
    assert kube["apis"]["ingresses"] == "networking.k8s.io/v1beta1/ingresses"
    assert {"ingresses.v1beta1.networking.k8s.io", "ingressclasses.v1beta1.networking.k8s.io"} <= set(kube["watches"])
    hack_vip, kuard_vip = await vip_of(controller, shard(HACK)), await vip_of(controller, shard(KUARD))
    await routed(controller, vip=hack_vip, port=80, host=HACK)
    await routed(controller, vip=kuard_vip, port=443, host=KUARD)
    annotated = "annotated.avi.iberia.local"
    await routed(controller, vip=await vip_of(controller, shard(annotated)), port=80, host=annotated)
    assert await controller.names("pool", contains="theirs") == []
    assert await controller.names("pool", contains="classless") == []

    async def statuses() -> bool:
        return (await ingresses.status("default", "hackazon") == [{"hostname": HACK, "ip": hack_vip}]
                and await ingresses.status("default", "kuard") == [{"hostname": KUARD, "ip": kuard_vip}]
                and bool(await ingresses.status("default", "annotated")))

    await eventually(statuses, what="the statuses written through networking.k8s.io/v1beta1")
    fqdn_map = json.loads((await ingresses.annotations("default", "kuard"))["ako.vmware.com/host-fqdn-vs-uuid-map"])
    assert fqdn_map == {KUARD: (await controller.one("virtualservice", f"{C}--{KUARD}"))["uuid"]}
    assert await ingresses.status("default", "theirs") == []

    await akod.wait_in_sync()
    await no_relist_loop(akod, kube_client, apis=[("networking.k8s.io/v1beta1", "ingresses"),
                                                  ("networking.k8s.io/v1beta1", "ingressclasses")])
    assert akod.stop() == 0
    again = akod_cli("plan", "--config", str(akod.config))
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr


@pytest.fixture
async def rbac_identity(kube_apiserver: KubeApiServer, kube_client: client.ApiClient) -> AsyncIterator[Path]:
    """A kubeconfig for a user with only the ClusterRole of deploy/kubernetes-rbac.yaml, once it takes effect."""
    rbac = client.RbacAuthorizationV1Api(kube_client)
    role = next(d for d in yaml.safe_load_all(RBAC.read_text()) if d["kind"] == "ClusterRole")
    name = f"akod-deployed-{secrets.token_hex(3)}"
    await rbac.create_cluster_role({**role, "metadata": {"name": name}})
    await rbac.create_cluster_role_binding({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": LIMITED_USER}]})
    identity = kube_apiserver.kubeconfig_for(LIMITED_USER)
    async with await config.new_client_from_config(config_file=str(identity), persist_config=False) as limited:
        async def bound() -> bool:  # the RBAC authorizer sees new bindings through an informer
            try:
                await client.CoreV1Api(limited).list_node(limit=1)
            except ApiException as exc:
                assert exc.status == 403
                return False
            return True

        await eventually(bound, timeout=10, what="the ClusterRole binding to take effect")
    yield identity
    await rbac.delete_cluster_role_binding(name)
    await rbac.delete_cluster_role(name)


@pytest.mark.parametrize("kube_apiserver", [EXTENSIONS_ONLY], indirect=True)
async def test_without_an_ingress_class_api_extensions_ingresses_are_matched_by_class_name(
        controller: Controller, nodes: Nodes, services: Any, ingresses: Ingresses, make_daemon: Any,
        rbac_identity: Path) -> None:
    """Kubernetes <= 1.17's surface, and akod with only the deployed RBAC (the extensions group's rules)."""
    assert (ingresses.net.ingress_version, ingresses.net.class_version) == ("extensions/v1beta1", None)
    await nodes.seed()
    await services.create("default", "web", ports=[(80, "TCP")], endpoints=["10.34.1.10"], svc_type="ClusterIP")
    hosts = {"annotated": "annotated.avi.iberia.local", "classless": "classless.avi.iberia.local",
             "theirs": "theirs.avi.iberia.local"}
    await ingresses.create("default", "annotated", rules=[rule(hosts["annotated"], path("/", "web", 80))],
                           class_name=None, annotations={"kubernetes.io/ingress.class": "avi"})
    await ingresses.create("default", "classless", rules=[rule(hosts["classless"], path("/", "web", 80))],
                           class_name=None)
    await ingresses.create("default", "theirs", rules=[rule(hosts["theirs"], path("/", "web", 80))],
                           class_name=None, annotations={"kubernetes.io/ingress.class": "nginx"})
    akod = make_daemon(identity=rbac_identity)  # default_ing_controller: an Ingress without a class is ours
    check = akod_cli("check", "--config", str(akod.config))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "kubernetes: ingresses from extensions/v1beta1/ingresses" in check.stdout, check.stdout
    assert "warning: ingressclasses: the server serves none of" in check.stderr, check.stderr
    assert "not served by the cluster: ingressclasses" in check.stdout, check.stdout

    akod.start()
    status = await akod.wait_in_sync()
    assert set(status["kubernetes"]["missing"]) == {"ingressclasses"}
    assert status["kubernetes"]["apis"]["ingresses"] == "extensions/v1beta1/ingresses"
    for name in ("annotated", "classless"):
        host = hosts[name]
        vip = await vip_of(controller, shard(host))
        await routed(controller, vip=vip, port=80, host=host)
        await eventually(lambda: _status_is(ingresses, name, [{"hostname": host, "ip": vip}]),
                         what=f"{name}'s status written through extensions/v1beta1")
    assert await controller.names("pool", contains=hosts["theirs"]) == []
    assert akod.log().count("ingressclasses: the server serves none of") == 1
    assert akod.stop() == 0


async def _status_is(ingresses: Ingresses, name: str, expected: list[dict[str, str]]) -> bool:
    return await ingresses.status("default", name) == expected


@pytest.mark.parametrize("kube_apiserver", [NO_INGRESS_API], indirect=True)
async def test_a_resource_the_server_does_not_serve_is_reported_once_and_l4_still_works(
        controller: Controller, nodes: Nodes, services: Any, make_daemon: Any, kube_client: client.ApiClient) -> None:
    await nodes.seed()
    await services.create("default", "web", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    akod = make_daemon()
    check = akod_cli("check", "--config", str(akod.config))
    assert check.returncode == 0, check.stdout + check.stderr
    for name in ("ingresses", "ingressclasses"):
        assert f"warning: {name}: the server serves none of" in check.stderr, check.stderr
    assert "not served by the cluster: ingressclasses, ingresses" in check.stdout, check.stdout
    plan = akod_cli("plan", "--config", str(akod.config))
    assert "warning: ingresses: the server serves none of networking.k8s.io/v1/ingresses" in plan.stdout, plan.stdout

    akod.start()
    status = await akod.wait_in_sync()
    missing = status["kubernetes"]["missing"]
    assert set(missing) == {"ingresses", "ingressclasses"}, missing
    assert "extensions/v1beta1/ingresses" in missing["ingresses"]
    assert not [w for w in status["kubernetes"]["watches"] if w.startswith("ingress")]
    vs = await controller.one("virtualservice", f"{C}--default-web")
    assert vs["name"] == f"{C}--default-web"

    async def l4_status() -> bool:
        svc = await services.get("default", "web")
        return bool(svc.status.load_balancer.ingress)

    await eventually(l4_status, what="the Service's VIP written back")
    await no_relist_loop(akod, kube_client, apis=[])
    log = akod.log()
    assert log.count("ingresses: the server serves none of") == 1, log[-3000:]
    assert akod.stop() == 0
