"""Issue 11, end to end: NodePortLocal (Antrea) pool servers, the Services' opt-in, bad pod annotations.

Real kube-apiserver, the emulator in strict mode, `akod run` with `[l7] service_type =
"NodePortLocal"`. Pods are written as antrea-agent and the kubelet would leave them
(`tests/e2e/npl.py`): bound to a seed node, Ready in their status, the NodePortLocal annotation
listing their node ports.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from dataclasses import replace
from typing import Any

from kubernetes_asyncio import client

from tests.e2e.conftest import Controller, Nodes, ours
from tests.e2e.harness import TEST_OPTIONS, eventually, writes_of_a_restart
from tests.e2e.ingresses import path, rule
from tests.e2e.npl import NPL_ENABLED, Pods, annotations_of, create_service, mapping
from tests.e2e.test_api_versions import rbac_identity  # noqa: F401 - a fixture: the deployed RBAC only
from tests.e2e.test_ha import LEASE, lease_namespace  # noqa: F401 - a fixture: the Lease's namespace
from tests.e2e.test_l4 import settled

WORKER1, WORKER2 = "site1-az1-k8s-worker01", "site1-az1-k8s-worker02"
IP1, IP2 = "10.10.30.12", "10.10.30.13"
NPL_MODE = '[l7]\nservice_type = "NodePortLocal"\n'
MARKER = "ako.vmware.com/npl-annotated-by"


def npl_daemon(make_daemon: Any, *, extra: str = NPL_MODE, **kwargs: Any) -> Any:
    return make_daemon(options=replace(TEST_OPTIONS, extra=extra), **kwargs)


def pool_of(state: dict[str, Any]) -> list[tuple[str, int, bool]]:
    (servers,) = state["pools"].values()
    return list(servers)


async def seed_apps(core: client.CoreV1Api, pods: Pods, ns: str) -> None:
    """hackazon (port 80) and kuard (8080, targetPort named http), their pods mapped by antrea-agent."""
    await create_service(core, ns, "hackazon", port=80, target=80, selector={"app": "hackazon"})
    await create_service(core, ns, "kuard", port=8080, target="http", selector={"app": "kuard"})
    await pods.create(ns, "hackazon-1", labels={"app": "hackazon"}, node=WORKER1, ports=[("http", 80)],
                      npl=[mapping(80, IP1, 61000)])
    await pods.create(ns, "kuard-1", labels={"app": "kuard"}, node=WORKER1, ports=[("http", 8080)],
                      npl=[mapping(8080, IP1, 61001)])
    await pods.create(ns, "kuard-2", labels={"app": "kuard"}, node=WORKER2, ports=[("http", 8080)],
                      npl=[mapping(8080, IP2, 61000), mapping(9090, IP2, 61001)])
    # A pod antrea-agent has not mapped yet, and one of another application: neither is a server.
    await pods.create(ns, "kuard-3", labels={"app": "kuard"}, node=WORKER2, ports=[("http", 8080)])
    await pods.create(ns, "other-1", labels={"app": "other"}, node=WORKER2, npl=[mapping(8080, IP2, 61009)])


async def writes_since(controller: Controller, before: int) -> list[tuple[str, str]]:
    return [(w["method"], w["path"].split("/")[2]) for w in (await controller.writes())[before:]]


async def test_npl_pools_hold_the_node_ports_of_ready_pods_and_services_get_the_opt_in(
        controller, nodes: Nodes, kube_client, kube_namespace: str, ingresses, make_daemon,
        rbac_identity) -> None:  # noqa: F811
    """With only the permissions of deploy/kubernetes-rbac.yaml (pods read, services patch)."""
    ns = kube_namespace
    core = client.CoreV1Api(kube_client)
    pods = Pods(kube_client)
    await nodes.seed()
    await seed_apps(core, pods, ns)
    # An Ingress backend (ClusterIP Service) gets servers and the opt-in too; a Service that opted in by
    # itself keeps its annotation when akod stops serving it.
    await create_service(core, ns, "kuard-web", port=80, target=8080, selector={"app": "kuard"}, svc_type="ClusterIP")
    await create_service(core, ns, "own", port=80, target=80, selector={"app": "own"},
                         annotations={NPL_ENABLED: "true"})
    await ingresses.create(ns, "kuard", rules=[rule("kuard.avi.iberia.local", path("/", "kuard-web", 80))])
    akod = npl_daemon(make_daemon, identity=rbac_identity)
    akod.start()
    await akod.wait_in_sync()

    hack = await settled(controller, f"S1-AZ1--{ns}-hackazon", lambda s: pool_of(s) == [(IP1, 61000, True)])
    assert hack["vs"]["created_by"] == "ako-S1-AZ1"
    await settled(controller, f"S1-AZ1--{ns}-kuard",
                  lambda s: pool_of(s) == [(IP1, 61001, True), (IP2, 61000, True)])

    async def ingress_pool() -> list[tuple[str, int]] | bool:
        names = await controller.names("pool", contains=f"-{ns}-kuard")
        names = [n for n in names if "kuard.avi.iberia.local" in n]
        if not names:
            return False
        pool = await controller.one("pool", names[0])
        got = sorted((s["ip"]["addr"], s["port"]) for s in pool.get("servers") or [])
        return got if got == [(IP1, 61001), (IP2, 61000)] else False

    await eventually(ingress_pool, what="the Ingress backend's pool of NodePortLocal servers")

    async def opted_in() -> bool:
        for name in ("hackazon", "kuard", "kuard-web"):
            found = await annotations_of(core, ns, name)
            if found.get(NPL_ENABLED) != "true" or found.get(MARKER) != "S1-AZ1":
                return False
        return True

    await eventually(opted_in, what="the opt-in annotation on the served Services")
    assert MARKER not in await annotations_of(core, ns, "own")  # it opted in by itself: akod claims nothing
    assert ours(await controller.vrf_routes()) == []  # static routes are off in NodePortLocal mode
    await akod.wait_in_sync()

    # A pod becoming unready costs one pool write.
    before = len(await controller.writes())
    await pods.set_ready(ns, "kuard-2", False)
    await settled(controller, f"S1-AZ1--{ns}-kuard", lambda s: pool_of(s) == [(IP1, 61001, True)])
    await eventually(ingress_pool_is(controller, ns, [(IP1, 61001)]), what="the Ingress pool without kuard-2")
    await akod.wait_in_sync()
    assert await writes_since(controller, before) == [("PUT", "pool"), ("PUT", "pool")]  # the L4 and the L7 pool

    # hackazon's pod annotation changes (antrea-agent moved the mapping): one pool write.
    before = len(await controller.writes())
    await pods.set_npl(ns, "hackazon-1", [mapping(80, IP1, 61005)])
    await settled(controller, f"S1-AZ1--{ns}-hackazon", lambda s: pool_of(s) == [(IP1, 61005, True)])
    await akod.wait_in_sync()
    assert await writes_since(controller, before) == [("PUT", "pool")]

    # A pod event that changes nothing the pools read writes nothing.
    before = len(await controller.writes())
    await core.patch_namespaced_pod("kuard-1", ns, {"metadata": {"labels": {"app": "kuard", "extra": "x"}}})
    await akod.wait_in_sync()
    assert await writes_since(controller, before) == []

    # A restart with nothing changed writes nothing: not to the controller, not to the Services.
    served = ("hackazon", "kuard", "kuard-web", "own")
    versions = {n: (await core.read_namespaced_service(n, ns)).metadata.resource_version for n in served}
    assert await writes_of_a_restart(akod, controller) == []
    assert {n: (await core.read_namespaced_service(n, ns)).metadata.resource_version for n in served} == versions

    # hackazon stops being a LoadBalancer: its VS goes, and so does the opt-in akod added; "own" stops
    # too, and keeps the opt-in it had before akod came.
    for name in ("hackazon", "own"):
        await core.patch_namespaced_service(name, ns, {"spec": {"type": "ClusterIP"}})

    async def opt_in_removed() -> bool:
        found = await annotations_of(core, ns, "hackazon")
        return NPL_ENABLED not in found and MARKER not in found

    await eventually(opt_in_removed, what="the opt-in removed from hackazon")
    await akod.wait_in_sync()
    assert (await annotations_of(core, ns, "own")).get(NPL_ENABLED) == "true"
    assert akod.stop() == 0

    # `akod cleanup` (AKO's deleteConfig) takes back the opt-ins akod added, with akod's own RBAC;
    # the one the user wrote stays.
    from tests.e2e.harness import akod_cli

    done = akod_cli("cleanup", "--config", str(akod.config), "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed the NodePortLocal opt-in akod added to 2 Service(s)" in done.stdout, done.stdout
    for name in ("kuard", "kuard-web"):
        found = await annotations_of(core, ns, name)
        assert NPL_ENABLED not in found and MARKER not in found, (name, found)
    assert (await annotations_of(core, ns, "own")).get(NPL_ENABLED) == "true"


def ingress_pool_is(controller: Controller, ns: str, expected: list[tuple[str, int]]) -> Any:
    async def probe() -> bool:
        names = [n for n in await controller.names("pool", contains=f"-{ns}-kuard") if "kuard.avi.iberia.local" in n]
        if not names:
            return False
        pool = await controller.one("pool", names[0])
        return sorted((s["ip"]["addr"], s["port"]) for s in pool.get("servers") or []) == expected

    return probe


async def test_auto_annotation_off_writes_no_annotation(controller, nodes: Nodes, kube_client, kube_namespace: str,
                                                        make_daemon) -> None:
    ns = kube_namespace
    core = client.CoreV1Api(kube_client)
    pods = Pods(kube_client)
    await nodes.seed()
    await create_service(core, ns, "hackazon", port=80, target=80, selector={"app": "hackazon"})
    await pods.create(ns, "hackazon-1", labels={"app": "hackazon"}, node=WORKER1, npl=[mapping(80, IP1, 61000)])
    akod = npl_daemon(make_daemon, extra=NPL_MODE + "npl_auto_annotate = false\n")
    akod.start()
    await akod.wait_in_sync()
    await settled(controller, f"S1-AZ1--{ns}-hackazon", lambda s: pool_of(s) == [(IP1, 61000, True)])
    await akod.wait_in_sync()
    assert NPL_ENABLED not in await annotations_of(core, ns, "hackazon")
    assert akod.stop() == 0


async def test_bad_pod_annotations_are_errors_of_the_pod_and_cost_only_their_entries(
        controller, nodes: Nodes, kube_client, kube_namespace: str, make_daemon,
        rbac_identity) -> None:  # noqa: F811
    ns = kube_namespace
    core = client.CoreV1Api(kube_client)
    pods = Pods(kube_client)
    await nodes.seed()
    await create_service(core, ns, "kuard", port=8080, target=8080, selector={"app": "kuard"})
    await pods.create(ns, "good", labels={"app": "kuard"}, node=WORKER1, npl=[mapping(8080, IP1, 61001)])
    await pods.create(ns, "garbage", labels={"app": "kuard"}, node=WORKER1, npl="[{podPort: 8080")
    await pods.create(ns, "range", labels={"app": "kuard"}, node=WORKER2,
                      npl=[mapping(8080, IP2, 70000), mapping(8080, IP2, 61002)])
    await pods.create(ns, "missing", labels={"app": "kuard"}, node=WORKER2,
                      npl=[{"podPort": 8080, "nodePort": 61003}])
    akod = npl_daemon(make_daemon, identity=rbac_identity)
    akod.start()
    await akod.wait_in_sync()
    # The good pod and the good entry of "range" serve; nothing of the bad entries does.
    await settled(controller, f"S1-AZ1--{ns}-kuard", lambda s: pool_of(s) == [(IP1, 61001, True), (IP2, 61002, True)])

    field = "metadata.annotations[nodeportlocal.antrea.io]"
    expected = {("garbage", field), ("range", f"{field}[0].nodePort"), ("missing", f"{field}[0].nodeIP")}

    async def reported() -> list[dict[str, Any]] | bool:
        status = await akod.status()
        errors = [e for e in status["errors"] if e["kind"] == "Pod" and e["namespace"] == ns]
        return errors if {(e["name"], e["field"]) for e in errors} == expected else False

    errors = await eventually(reported, what="the three pods' errors in /status")
    assert {e["reason"] for e in errors} == {"InvalidNodePortLocal"}
    assert not [e for e in (await akod.status())["errors"] if e["kind"] != "Pod"]

    async def events() -> bool:
        found = (await core.list_namespaced_event(ns)).items
        named = {(e.involved_object.kind, e.involved_object.name) for e in found if e.reason == "InvalidNodePortLocal"}
        return named == {("Pod", "garbage"), ("Pod", "range"), ("Pod", "missing")}

    await eventually(events, what="a Warning Event on each bad pod")
    assert "garbage" in akod.state_db_dump()

    # Fixing an annotation clears its error and adds its server.
    await pods.set_npl(ns, "garbage", [mapping(8080, IP1, 61004)])
    await settled(controller, f"S1-AZ1--{ns}-kuard", lambda s: pool_of(s) == [
        (IP1, 61001, True), (IP1, 61004, True), (IP2, 61002, True)])

    async def cleared() -> bool:
        status = await akod.status()
        return not [e for e in status["errors"] if e["kind"] == "Pod" and e["name"] == "garbage"]

    await eventually(cleared, what="garbage's error cleared")
    akod.assert_running()
    assert akod.stop() == 0


async def test_services_stored_by_an_older_akod_are_listed_again_for_node_port_local(
        controller, nodes: Nodes, kube_client, kube_namespace: str, make_daemon) -> None:
    """A state database from before NodePortLocal (Service bodies without their selector) is not trusted."""
    ns = kube_namespace
    core = client.CoreV1Api(kube_client)
    pods = Pods(kube_client)
    await nodes.seed()
    await create_service(core, ns, "hackazon", port=80, target=80, selector={"app": "hackazon"})
    akod = make_daemon()  # ClusterIP mode first
    akod.start()
    await akod.wait_in_sync()
    await settled(controller, f"S1-AZ1--{ns}-hackazon", lambda s: pool_of(s) == [])
    assert akod.stop() == 0
    with contextlib.closing(sqlite3.connect(akod.state)) as db:  # what an older akod stored
        db.execute("UPDATE k8s_objects SET body = json_remove(body, '$.selector', '$.npl_enabled', '$.npl_marker') "
                   "WHERE kind = 'Service'")
        db.commit()
    await pods.create(ns, "hackazon-1", labels={"app": "hackazon"}, node=WORKER1, npl=[mapping(80, IP1, 61000)])
    akod.configure(options=replace(akod.options, extra=NPL_MODE))
    akod.start()
    await akod.wait_in_sync()
    await settled(controller, f"S1-AZ1--{ns}-hackazon", lambda s: pool_of(s) == [(IP1, 61000, True)])
    assert "services were stored by an older akod" in akod.log_of_last_start()
    assert akod.stop() == 0


async def test_a_standby_writes_no_opt_in_and_writes_it_once_it_leads(
        controller, nodes: Nodes, kube_client, kube_namespace: str, make_daemon, lease_namespace: str) -> None:  # noqa: F811
    """The opt-in is a Kubernetes write: only the leader of an HA pair makes it."""
    ns = kube_namespace
    core = client.CoreV1Api(kube_client)
    await nodes.seed()
    await create_service(core, ns, "hackazon", port=80, target=80, selector={"app": "hackazon"})
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    coordination = client.CoordinationV1Api(kube_client)
    await coordination.create_namespaced_lease(lease_namespace, {  # another daemon leads, for an hour
        "metadata": {"name": LEASE}, "spec": {"holderIdentity": "jump-elsewhere", "leaseDurationSeconds": 3600,
                                              "acquireTime": now, "renewTime": now}})
    akod = npl_daemon(make_daemon, extra=NPL_MODE + '[ha]\nenabled = true\nidentity = "jump-b"\n')
    akod.start()
    status = await akod.wait_ready()
    assert status["leader"] is False and status["ha"]["holder"] == "jump-elsewhere"
    assert NPL_ENABLED not in await annotations_of(core, ns, "hackazon")
    assert await controller.writes() == []
    await coordination.delete_namespaced_lease(LEASE, lease_namespace)  # the other daemon went away

    async def opted_in() -> bool:
        return (await annotations_of(core, ns, "hackazon")).get(NPL_ENABLED) == "true"

    await eventually(opted_in, what="the opt-in written by the new leader")
    assert (await akod.status())["leader"] is True
    assert akod.stop() == 0
