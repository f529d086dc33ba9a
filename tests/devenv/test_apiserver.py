"""The dev environment's real kube-apiserver gives kubernetes-asyncio the semantics akod relies on.

Each test pins one behaviour the daemon's watch/reconcile loop depends on, so that a broken build
of the apiserver (or a wrong flag in KubeApiServer) shows up here and not as a puzzling failure in
the daemon's own tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from akod.devenv import apiserver
from akod.devenv.apiserver import KubeApiServer

WATCH_TIMEOUT_S = 10


def _unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def _load_balancer(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": 8080}]},
    }


async def _watch_until(
    list_func: Callable[..., Awaitable[Any]],
    *args: Any,
    resource_version: str,
    last: tuple[str, str],
    timeout_s: int = WATCH_TIMEOUT_S,
    **kwargs: Any,
) -> list[tuple[str, str, int]]:
    """(type, name, resourceVersion) of each event from resource_version up to and including `last`."""
    seen: list[tuple[str, str, int]] = []
    async with asyncio.timeout(timeout_s + 5), watch.Watch() as stream:
        async for event in stream.stream(
            list_func, *args, resource_version=resource_version, timeout_seconds=timeout_s, **kwargs
        ):
            meta = event["object"].metadata
            seen.append((event["type"], meta.name, int(meta.resource_version)))
            if (event["type"], meta.name) == last:
                return seen
    raise AssertionError(f"the watch ended before {last}; saw {seen}")


async def test_nodes_are_created_listed_and_watched_with_resource_versions(
    kube_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_client)
    name, run = _unique("node"), _unique("run")
    created = await core.create_node(
        {
            "metadata": {"name": name, "labels": {"akod.test/run": run}},
            "spec": {"podCIDR": "10.244.1.0/24"},
        }
    )
    try:
        await core.patch_node_status(
            name, {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.11"}]}}
        )
        listed = await core.list_node(label_selector=f"akod.test/run={run}")
        assert [n.metadata.name for n in listed.items] == [name]
        assert listed.items[0].status.addresses[0].address == "10.0.0.11"
        assert int(listed.metadata.resource_version) > int(created.metadata.resource_version)

        await core.patch_node(name, {"metadata": {"labels": {"zone": "az1"}}})
        await core.delete_node(name)
        events = await _watch_until(
            core.list_node,
            resource_version=listed.metadata.resource_version,
            label_selector=f"akod.test/run={run}",
            last=("DELETED", name),
        )
    finally:
        with contextlib.suppress(ApiException):  # already gone unless the test failed early
            await core.delete_node(name)
    assert [(kind, obj) for kind, obj, _ in events] == [("MODIFIED", name), ("DELETED", name)]
    versions = [rv for _, _, rv in events]
    assert versions == sorted(versions) and versions[0] > int(listed.metadata.resource_version)


async def test_service_status_patch_sets_ingress_and_ignores_spec(
    kube_client: client.ApiClient, kube_namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    created = await core.create_namespaced_service(kube_namespace, _load_balancer("web"))
    assert created.spec.cluster_ip and created.spec.ports[0].node_port  # allocated by the server

    patched = await core.patch_namespaced_service_status(
        "web",
        kube_namespace,
        {"spec": {"type": "ClusterIP"}, "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}},
    )

    assert patched.status.load_balancer.ingress[0].ip == "192.0.2.10"
    assert patched.spec.type == "LoadBalancer"
    stale = {"metadata": {"resourceVersion": created.metadata.resource_version}, "status": {}}
    with pytest.raises(ApiException) as conflict:
        await core.patch_namespaced_service_status("web", kube_namespace, stale)
    assert conflict.value.status == 409


async def test_watch_from_list_resource_version_yields_only_newer_events(
    kube_client: client.ApiClient, kube_namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    await core.create_namespaced_service(kube_namespace, _load_balancer("before"))
    listed = await core.list_namespaced_service(kube_namespace)
    await core.create_namespaced_service(kube_namespace, _load_balancer("after"))
    await core.delete_namespaced_service("before", kube_namespace)

    events = await _watch_until(
        core.list_namespaced_service,
        kube_namespace,
        resource_version=listed.metadata.resource_version,
        last=("DELETED", "before"),
    )

    assert [(kind, name) for kind, name, _ in events] == [("ADDED", "after"), ("DELETED", "before")]


async def test_watch_from_compacted_resource_version_gives_410(
    kube_apiserver: KubeApiServer, kube_client: client.ApiClient, kube_namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    old = (await core.list_namespaced_service(kube_namespace)).metadata.resource_version

    await asyncio.to_thread(kube_apiserver.compact_etcd)

    with pytest.raises(ApiException) as gone:
        await _watch_until(core.list_namespaced_service, kube_namespace, resource_version=old, last=("", ""))
    assert gone.value.status == 410
    # a fresh list gives a resourceVersion to watch from again
    fresh = (await core.list_namespaced_service(kube_namespace)).metadata.resource_version
    await core.create_namespaced_service(kube_namespace, _load_balancer("web"))
    events = await _watch_until(
        core.list_namespaced_service, kube_namespace, resource_version=fresh, last=("ADDED", "web")
    )
    assert [(kind, name) for kind, name, _ in events] == [("ADDED", "web")]


async def test_core_v1_events_can_be_recorded(kube_client: client.ApiClient, kube_namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    service = await core.create_namespaced_service(kube_namespace, _load_balancer("web"))
    involved = {
        "apiVersion": "v1",
        "kind": "Service",
        "namespace": kube_namespace,
        "name": "web",
        "uid": service.metadata.uid,
        "resourceVersion": service.metadata.resource_version,
    }
    await core.create_namespaced_event(
        kube_namespace,
        {
            "metadata": {"generateName": "web."},
            "involvedObject": involved,
            "reason": "Synced",
            "message": "virtual service S1-AZ1--default-web created",
            "type": "Normal",
            "source": {"component": "akod"},
            "firstTimestamp": "2021-01-01T00:00:00Z",
            "lastTimestamp": "2021-01-01T00:00:00Z",
            "count": 1,
        },
    )

    events = await core.list_namespaced_event(kube_namespace, field_selector="involvedObject.name=web")

    assert [(e.reason, e.source.component, e.involved_object.uid) for e in events.items] == [
        ("Synced", "akod", service.metadata.uid)
    ]


async def test_limited_user_is_denied_until_a_role_is_bound(
    kube_apiserver: KubeApiServer, kube_client: client.ApiClient
) -> None:
    rbac = client.RbacAuthorizationV1Api(kube_client)
    role = _unique("akod-test-nodes")
    async with await config.new_client_from_config(
        config_file=str(kube_apiserver.kubeconfig_for("akod")), persist_config=False
    ) as limited:
        nodes = client.CoreV1Api(limited)
        with pytest.raises(ApiException) as denied:
            await nodes.list_node()
        assert denied.value.status == 403

        await rbac.create_cluster_role(
            {
                "metadata": {"name": role},
                "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}],
            }
        )
        await rbac.create_cluster_role_binding(
            {
                "metadata": {"name": role},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "akod"}],
            }
        )
        try:
            # the RBAC authorizer sees new bindings through an informer: poll until it does
            async with asyncio.timeout(10):
                while True:
                    try:
                        await nodes.list_node()
                        break
                    except ApiException as error:
                        assert error.status == 403
                        await asyncio.sleep(0.1)
            with pytest.raises(ApiException) as still_denied:
                await client.CoreV1Api(limited).list_namespaced_secret("default")
            assert still_denied.value.status == 403
        finally:
            await rbac.delete_cluster_role_binding(role)
            await rbac.delete_cluster_role(role)


def _accepts_connections(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1):
            return True
    except OSError:
        return False


async def test_periodic_compaction_and_stop(tmp_path: Path) -> None:
    """A second server with compaction every second: old versions expire on their own; stop() ends it."""
    with KubeApiServer(compaction_interval_s=1.0, work_dir=tmp_path / "kube") as server:
        assert server.startup_s is not None and server.startup_s < 30
        async with await config.new_client_from_config(
            config_file=str(server.kubeconfig), persist_config=False
        ) as api:
            core = client.CoreV1Api(api)
            old = (await core.list_namespaced_service("default")).metadata.resource_version
            async with asyncio.timeout(20):
                while True:
                    await core.create_namespaced_service("default", _load_balancer(_unique("svc")))
                    try:
                        await _watch_until(
                            core.list_namespaced_service,
                            "default",
                            resource_version=old,
                            last=("", ""),
                            timeout_s=1,
                        )
                    except ApiException as error:
                        assert error.status == 410
                        break
                    except AssertionError:  # the 1 s watch ended: not compacted yet
                        pass
        url, etcd_url = server.url, server.etcd_url
    assert not server.running
    assert not _accepts_connections(url) and not _accepts_connections(etcd_url)
    assert (tmp_path / "kube" / "kube-apiserver.log").exists()  # a given work dir is kept


def test_ensure_binaries_runs_the_build_only_while_the_cache_lacks_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, runs = tmp_path / "cache" / "k8s", tmp_path / "runs"
    script = tmp_path / "build.sh"
    script.write_text(
        'set -e\necho building >&2\necho run >> "$RUNS"\nmkdir -p "$AKOD_K8S_CACHE"\n'
        'for b in kube-apiserver etcd; do printf "#!/bin/sh\\n" > "$AKOD_K8S_CACHE/$b"; '
        'chmod +x "$AKOD_K8S_CACHE/$b"; done\necho "$AKOD_K8S_CACHE"\n'
    )
    monkeypatch.setattr(apiserver, "BUILD_SCRIPT", script)
    monkeypatch.setenv("AKOD_K8S_CACHE", str(cache))
    monkeypatch.setenv("RUNS", str(runs))

    first = apiserver.ensure_binaries(stderr=subprocess.DEVNULL)
    second = apiserver.ensure_binaries(stderr=subprocess.DEVNULL)

    assert first == second == cache
    assert runs.read_text() == "run\n"


def test_extra_flags_add_to_the_default_admission_plugin_list_and_replace_other_flags() -> None:
    merged = apiserver.merge_flags(
        ["--secure-port=1", "--disable-admission-plugins=ServiceAccount", "--watch-cache=false"],
        [*apiserver.API_SURFACE_1_18, "--watch-cache=true", "--runtime-config=networking.k8s.io/v1=true,x/v1=false",
         "-v", "4"])
    assert merged == ["--secure-port=1", "--disable-admission-plugins=ServiceAccount,DefaultIngressClass",
                      "--watch-cache=true", "--runtime-config=networking.k8s.io/v1=true,x/v1=false", "-v", "4"]
