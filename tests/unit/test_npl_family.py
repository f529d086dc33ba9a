"""The NodePortLocal family's keys and patches, from a cluster cache (no I/O: `sync` is the e2e tests')."""

from __future__ import annotations

from typing import Any

from akod.config.loading import parse_settings
from akod.model.observed import Observed
from akod.sync.cluster import Change, ClusterCache
from akod.sync.contexts import Contexts
from akod.sync.families.npl import MARKER_ANNOTATION, NplFamily
from akod.sync.family import Inputs

BASE = """
[cluster]
name = "S1-AZ1"

[controller]
host = "127.0.0.1"
se_group = "S1-AZ1-SE-Group"
"""
NPL = '[l7]\nservice_type = "NodePortLocal"\n'
ENABLED = "nodeportlocal.antrea.io/enabled"


async def _none(*_: Any) -> None:
    return None


def service(name: str, *, type_: str = "LoadBalancer", enabled: str | None = None,
            marker: str | None = None) -> Observed:
    body = {"name": name, "namespace": "default", "uid": f"u-{name}", "created": "", "annotations": {},
            "type": type_, "load_balancer_class": "", "selector": {"app": name}, "ip_families": [],
            "ports": [{"name": "", "protocol": "TCP", "port": 80, "target_port": 80, "node_port": None}],
            "npl_enabled": enabled, "npl_marker": marker}
    return Observed(kind="Service", namespace="default", name=name, uid=f"u-{name}", resource_version="1", body=body)


def pod(name: str, npl: str | None) -> Observed:
    body = {"name": name, "namespace": "default", "labels": {"app": "web"}, "node": "n1", "ready": True,
            "container_ports": [], "npl": npl}
    return Observed(kind="Pod", namespace="default", name=name, uid=f"p-{name}", resource_version="1", body=body)


def family(extra: str = NPL) -> tuple[NplFamily, Inputs]:
    inputs = Inputs(cluster=ClusterCache(), settings=parse_settings(BASE + extra), applied=_none)
    return NplFamily(inputs=inputs, contexts=Contexts(), io=None), inputs


async def change(fam: NplFamily, inputs: Inputs, kind: str, *objs: Observed, deleted: bool = False) -> set[str]:
    c = Change(resource=kind.lower() + "s", kind=kind, upserts=[] if deleted else list(objs),
               deleted=list(objs) if deleted else [])
    return await fam.on_change(inputs.cluster.apply(c))


async def test_a_served_service_without_the_opt_in_is_annotated_with_the_marker() -> None:
    fam, inputs = family()
    assert fam.resources == ("pods",)
    assert await change(fam, inputs, "Service", service("web")) == {"nplsvc:default/web"}
    t = await fam.translate("nplsvc:default/web")
    assert t.detail == {ENABLED: "true", MARKER_ANNOTATION: "S1-AZ1"}
    # The watch brings back what was written: nothing more to do.
    assert await change(fam, inputs, "Service", service("web", enabled="true", marker="S1-AZ1")) == set()


async def test_an_opt_in_akod_did_not_write_is_never_touched() -> None:
    fam, inputs = family()
    assert await change(fam, inputs, "Service", service("web", enabled="true")) == set()
    assert await change(fam, inputs, "Service", service("web", type_="ClusterIP", enabled="true")) == set()


async def test_a_service_no_longer_served_loses_the_opt_in_akod_wrote() -> None:
    fam, inputs = family()
    await change(fam, inputs, "Service", service("web", enabled="true", marker="S1-AZ1"))
    assert await change(fam, inputs, "Service", service("web", type_="NodePort", enabled="true",
                                                         marker="S1-AZ1")) == {"nplsvc:default/web"}
    assert (await fam.translate("nplsvc:default/web")).detail == {ENABLED: None, MARKER_ANNOTATION: None}


async def test_outside_node_port_local_mode_pods_are_not_watched_and_akods_opt_ins_go() -> None:
    fam, inputs = family(extra="")
    assert fam.resources == ()
    assert await change(fam, inputs, "Service", service("web")) == set()
    assert await change(fam, inputs, "Service", service("web", enabled="true", marker="S1-AZ1")) == {
        "nplsvc:default/web"}


async def test_auto_annotation_off_annotates_nothing() -> None:
    fam, inputs = family(NPL + "npl_auto_annotate = false\n")
    assert await change(fam, inputs, "Service", service("web")) == set()


async def test_a_bad_pod_annotation_gets_a_key_until_it_is_fixed_or_gone() -> None:
    fam, inputs = family()
    assert await change(fam, inputs, "Pod", pod("p", "nope")) == {"nplpod:default/p"}
    t = await fam.translate("nplpod:default/p")
    assert [(p.obj.kind, p.obj.name, p.reason) for p in t.problems] == [("Pod", "p", "InvalidNodePortLocal")]
    assert await change(fam, inputs, "Pod", pod("p", "nope")) == set()  # the same problem: nothing new
    assert await change(fam, inputs, "Pod", pod("p", "[]")) == {"nplpod:default/p"}
    assert (await fam.translate("nplpod:default/p")).problems == ()
    await change(fam, inputs, "Pod", pod("q", "{"))
    assert await change(fam, inputs, "Pod", pod("q", "{"), deleted=True) == {"nplpod:default/q"}
    assert fam.wanted_keys() == set()
