"""NodePortLocal: reading Antrea's pod annotation and choosing pool servers from it (pure)."""

from __future__ import annotations

import json
from typing import Any

from akod.model.l4members import ServicePort
from akod.model.npl import npl_members, read_npl
from akod.sync.podindex import SelectorIndex

FIELD = "metadata.annotations[nodeportlocal.antrea.io]"


def pod(name: str, npl: Any, *, ready: bool = True, labels: dict[str, str] | None = None,
        ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "labels": labels or {"app": "web"}, "node": "n1", "ready": ready,
            "container_ports": ports or [], "npl": npl if npl is None or isinstance(npl, str) else json.dumps(npl)}


def sport(target: int | str | None = 8080, *, port: int = 80) -> ServicePort:
    return ServicePort(index=0, name="http", protocol="TCP", port=port, target_port=target, node_port=None)


def addrs(members: Any) -> list[tuple[str, int]]:
    return [(str(s.ip), s.port) for s in members.servers]


V4 = frozenset({4})


def test_annotation_entries_become_node_ip_and_node_port() -> None:
    p = pod("a", [{"podPort": 8080, "nodeIP": "10.10.10.10", "nodePort": 61000, "protocol": "TCP"}])
    assert addrs(npl_members(port=sport(), pods=[p], versions=V4)) == [("10.10.10.10", 61000)]


def test_antrea_before_1_8_protocols_list_is_read_and_protocol_is_ignored_as_ako_does() -> None:
    p = pod("a", [{"podPort": 8080, "nodeIP": "10.0.0.1", "nodePort": 61001, "protocols": ["UDP"]},
                  {"podPort": 9090, "nodeIP": "10.0.0.1", "nodePort": 61002, "protocol": "TCP"}])
    assert addrs(npl_members(port=sport(), pods=[p], versions=V4)) == [("10.0.0.1", 61001)]


def test_named_target_port_is_resolved_from_each_pods_container_ports() -> None:
    a = pod("a", [{"podPort": 8080, "nodeIP": "10.0.0.1", "nodePort": 61001}],
            ports=[{"name": "web", "port": 8080, "protocol": "TCP"}])
    b = pod("b", [{"podPort": 9000, "nodeIP": "10.0.0.2", "nodePort": 61002}],
            ports=[{"name": "web", "port": 9000, "protocol": "TCP"}])
    c = pod("c", [{"podPort": 8080, "nodeIP": "10.0.0.3", "nodePort": 61003}])  # no port named web
    assert addrs(npl_members(port=sport("web"), pods=[a, b, c], versions=V4)) == [
        ("10.0.0.1", 61001), ("10.0.0.2", 61002)]


def test_unready_pod_serves_nothing_and_servers_are_sorted() -> None:
    pods = [pod("z", [{"podPort": 8080, "nodeIP": "10.0.0.9", "nodePort": 61009}]),
            pod("y", [{"podPort": 8080, "nodeIP": "10.0.0.2", "nodePort": 61003}]),
            pod("x", [{"podPort": 8080, "nodeIP": "10.0.0.2", "nodePort": 61001}]),
            pod("w", [{"podPort": 8080, "nodeIP": "10.0.0.1", "nodePort": 61005}], ready=False)]
    assert addrs(npl_members(port=sport(), pods=pods, versions=V4)) == [
        ("10.0.0.2", 61001), ("10.0.0.2", 61003), ("10.0.0.9", 61009)]
    assert npl_members(port=sport(), pods=list(reversed(pods)), versions=V4) == npl_members(
        port=sport(), pods=pods, versions=V4)


def test_ip_family_picks_the_node_addresses_of_its_versions() -> None:
    p = pod("a", [{"podPort": 8080, "nodeIP": "10.0.0.1", "nodePort": 61001},
                  {"podPort": 8080, "nodeIP": "fd00::1", "nodePort": 61001}])
    assert addrs(npl_members(port=sport(), pods=[p], versions=frozenset({6}))) == [("fd00::1", 61001)]
    assert addrs(npl_members(port=sport(), pods=[p], versions=frozenset({4, 6}))) == [
        ("10.0.0.1", 61001), ("fd00::1", 61001)]


def test_garbage_json_is_an_error_of_the_pod_on_the_annotation() -> None:
    entries, problems = read_npl(pod("bad", "[{podPort: 8080"))
    assert entries == ()
    assert [(p.obj.kind, p.obj.name, p.field, p.reason) for p in problems] == [
        ("Pod", "bad", FIELD, "InvalidNodePortLocal")]
    assert "is not JSON" in problems[0].message


def test_not_a_list_is_an_error() -> None:
    _, problems = read_npl(pod("bad", {"podPort": 8080}))
    assert [p.field for p in problems] == [FIELD]


def test_bad_entries_are_errors_on_their_field_and_good_entries_still_serve() -> None:
    p = pod("mixed", [{"podPort": 8080, "nodeIP": "10.0.0.1", "nodePort": 70000},
                      {"podPort": 8080, "nodePort": 61002},
                      {"podPort": "8080", "nodeIP": "10.0.0.3", "nodePort": 61003},
                      {"podPort": 8080, "nodeIP": "banana", "nodePort": 61004},
                      "x",
                      {"podPort": 8080, "nodeIP": "10.0.0.6", "nodePort": 61006}])
    entries, problems = read_npl(p)
    assert [(str(e.node_ip), e.node_port) for e in entries] == [("10.0.0.6", 61006)]
    assert [p.field for p in problems] == [f"{FIELD}[0].nodePort", f"{FIELD}[1].nodeIP", f"{FIELD}[2].podPort",
                                           f"{FIELD}[3].nodeIP", f"{FIELD}[4]"]
    assert "70000" in problems[0].message and "is missing" in problems[1].message
    assert addrs(npl_members(port=sport(), pods=[p], versions=V4)) == [("10.0.0.6", 61006)]


def test_pod_without_annotation_has_no_entries_and_no_problem() -> None:
    assert read_npl(pod("plain", None)) == ((), ())


def test_selector_index_finds_services_of_a_pod_and_pods_of_a_service() -> None:
    index = SelectorIndex()
    index.put_service(("default", "web"), {"selector": {"app": "web", "tier": "front"}})
    index.put_service(("default", "all"), {"selector": {"tier": "front"}})
    index.put_service(("other", "web"), {"selector": {"app": "web"}})
    index.put_service(("default", "manual"), {"selector": {}})
    index.put_pod(("default", "p1"), {"labels": {"app": "web", "tier": "front"}, "npl": "[]"})
    index.put_pod(("default", "p2"), {"labels": {"app": "web"}, "npl": "[]"})
    index.put_pod(("default", "p3"), {"labels": {"app": "web", "tier": "front"}, "npl": None})  # not mapped
    assert index.services_selecting(namespace="default", labels={"app": "web", "tier": "front"}) == {
        ("default", "web"), ("default", "all")}
    assert index.pods_of(("default", "web")) == [("default", "p1")]
    assert index.pods_of(("default", "manual")) == []
    index.put_pod(("default", "p2"), {"labels": {"app": "web", "tier": "front"}, "npl": "[]"})
    assert index.pods_of(("default", "all")) == [("default", "p1"), ("default", "p2")]
    index.drop_pod(("default", "p1"))
    index.drop_service(("default", "all"))
    assert index.pods_of(("default", "web")) == [("default", "p2")]
    assert index.services_selecting(namespace="default", labels={"tier": "front"}) == set()


def test_trimmed_pod_keeps_what_node_port_local_reads_and_nothing_else() -> None:
    from akod.kube.trimming import trim_pod, trim_service

    raw = {"metadata": {"name": "p", "namespace": "ns", "uid": "u", "resourceVersion": "7", "labels": {"app": "web"},
                        "annotations": {"nodeportlocal.antrea.io": "[]", "other": "x"}},
           "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i", "env": [{"name": "K", "value": "v"}],
                                                      "ports": [{"name": "http", "containerPort": 8080}]}]},
           "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}}
    body = trim_pod(raw).body
    assert body == {"name": "p", "namespace": "ns", "labels": {"app": "web"}, "node": "n1", "ready": False,
                    "container_ports": [{"name": "http", "port": 8080, "protocol": "TCP"}], "npl": "[]"}
    ended = trim_pod({**raw, "status": {"phase": "Succeeded"}}).body
    assert ended["ready"] is False
    svc = trim_service({"metadata": {"name": "s", "namespace": "ns", "annotations": {
        "nodeportlocal.antrea.io/enabled": "true", "ako.vmware.com/npl-annotated-by": "S1-AZ1"}},
        "spec": {"selector": {"app": "web"}, "ports": []}}).body
    assert svc["selector"] == {"app": "web"} and svc["npl_enabled"] == "true" and svc["npl_marker"] == "S1-AZ1"
    assert "ako.vmware.com/npl-annotated-by" not in svc["annotations"]  # akod's own write is never input


def test_services_stored_by_an_older_akod_are_listed_again() -> None:
    from akod.kube.resources import RESOURCES

    (variant,) = RESOURCES["services"]
    assert variant.stale([{"name": "old", "ports": []}])
    assert not variant.stale([{"name": "new", "selector": {}, "npl_enabled": None, "infra_setting": ""}])
    assert variant.stale([{"name": "before-aviinfrasetting", "selector": {}, "npl_enabled": None}])
