"""Issue 10, L4Rule end to end: accepted, applied to hackazon, edited, rejected, removed; kill -9 mid-way.

Real kube-apiserver with AKO's CRDs installed from `deploy/crds/` (and removed after this module,
so the other tests see a cluster without them), the emulator in strict mode, `akod run` as a
process. What a user sees is asserted: the VS and pool fields on the controller, the L4Rule's
`status`, `/status`, `/objects`, `akod plan`, and the writes (the emulator's request log).
"""

from __future__ import annotations

import collections
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from akod.devenv import crds
from akod.devenv.crds import L4Rules
from tests.e2e.conftest import Controller, Nodes
from tests.e2e.harness import akod_cli, eventually

C = "S1-AZ1"
HACK_VS = f"{C}--default-hackazon"
HACK_POOL = f"{HACK_VS}-TCP-80"
KUARD_VS = f"{C}--default-kuard"
PROFILE = "hackazon-tcp-proxy"
ANNOTATION = "ako.vmware.com/l4rule"
FIELD = f"metadata.annotations[{ANNOTATION}]"
FAST_RECHECK = "[sync]\ndrift_check_s = 2\n"
SPEC: dict[str, Any] = {
    "applicationProfileRef": "System-SSL-Application",  # certificates need an SSL-type profile (AKO)
    "networkProfileRef": PROFILE,
    "listenerProperties": [{"port": 80, "protocol": "TCP", "enableSsl": True}],
    "sslKeyAndCertificateRefs": ["System-Default-Cert"],
    "performanceLimits": {"maxConcurrentConnections": 1000},
    "backendProperties": [{"port": 80, "protocol": "TCP", "lbAlgorithm": "LB_ALGORITHM_ROUND_ROBIN",
                           "healthMonitorRefs": ["System-HTTP"],
                           "applicationPersistenceProfileRef": "System-Persistence-Client-IP", "minServersUp": 1}],
}


@pytest.fixture(scope="module")
async def crd_cluster(kube_client: client.ApiClient) -> AsyncIterator[None]:
    await crds.install(kube_client)
    yield
    await crds.remove(kube_client)


@pytest.fixture
async def l4rules(crd_cluster: None, kube_client: client.ApiClient) -> AsyncIterator[L4Rules]:
    made = L4Rules(kube_client)
    await made.delete_all()
    yield made
    await made.delete_all()


async def seed(nodes: Nodes, services: Any, *, hackazon: str = "", kuard: str = "") -> None:
    """The seed's two LoadBalancer Services, each naming an L4Rule when told to."""
    await nodes.seed()
    await services.create("default", "hackazon", ports=[(80, "TCP")], endpoints=["10.34.1.10"],
                          annotations={ANNOTATION: hackazon} if hackazon else {})
    await services.create("default", "kuard", ports=[(8080, "TCP")], endpoints=["10.34.1.11", "10.34.2.12"],
                          annotations={ANNOTATION: kuard} if kuard else {})


async def network_profile(controller: Controller, name: str) -> dict[str, Any]:
    code, body = await controller.call("POST", "/api/networkprofile",
                                       {"name": name, "profile": {"type": "PROTOCOL_TYPE_TCP_PROXY"}})
    assert code == 201, body
    return await controller.one("networkprofile", name)


def points_at(ref: str | None, obj: dict[str, Any]) -> bool:
    return bool(ref) and str(ref).split("#")[0].endswith(f"/{obj['uuid']}")


async def status_of(l4rules: L4Rules, name: str, want: str) -> dict[str, str]:
    async def probe() -> dict[str, str] | bool:
        found = await l4rules.status("default", name)
        return found if found.get("status") == want else False

    return await eventually(probe, timeout=30, what=f"L4Rule {name} {want}")


def per_object(writes: list[dict[str, Any]]) -> collections.Counter[tuple[str, str]]:
    return collections.Counter((w["method"], w["path"]) for w in writes)


async def vs_with_profile(controller: Controller, profile: dict[str, Any], *, name: str = HACK_VS,
                          what: str = "the L4Rule on the VS") -> dict[str, Any]:
    async def probe() -> dict[str, Any] | bool:
        vs = await controller.one("virtualservice", name)
        return vs if points_at(vs.get("network_profile_ref"), profile) else False

    found: dict[str, Any] = await eventually(probe, timeout=30, what=what)
    return found


def errors_of(status: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(e["kind"], e["name"], e["field"], e["reason"]) for e in status["errors"]}


async def test_an_l4rule_gives_hackazon_its_network_profile_listener_and_pool_properties_and_removing_it_restores_them(
        controller: Controller, nodes: Nodes, services: Any, l4rules: L4Rules, make_daemon: Any) -> None:
    await seed(nodes, services)
    profile = await network_profile(controller, PROFILE)
    akod = make_daemon(extra_config=FAST_RECHECK)
    akod.start()
    await akod.wait_in_sync()
    before_vs = await controller.one("virtualservice", HACK_VS)
    before_pool = await controller.one("pool", HACK_POOL)
    assert not points_at(before_vs["network_profile_ref"], profile)
    assert [s.get("enable_ssl") for s in before_vs["services"]] == [False]
    assert "lb_algorithm" not in before_pool or before_pool["lb_algorithm"] == "LB_ALGORITHM_LEAST_CONNECTIONS"
    assert akod.stop() == 0

    # What the L4Rule would change, before anything is changed: `akod plan` names it.
    await l4rules.create("default", "hackazon", SPEC)
    await services.patch("default", "hackazon", {"metadata": {"annotations": {ANNOTATION: "hackazon"}}})
    plan = akod_cli("plan", "--config", str(akod.config), "--json")
    assert plan.returncode == 10, plan.stdout + plan.stderr
    planned = json.loads(plan.stdout)["objects"]
    assert sorted((c["action"], c["type"], c["name"]) for c in planned) == [
        ("update", "pool", HACK_POOL), ("update", "virtualservice", HACK_VS)], planned
    assert all("L4Rule default/hackazon" in c["for"] for c in planned), planned

    writes_before = len(await controller.writes())
    akod.start()
    assert await status_of(l4rules, "hackazon", "Accepted") == {"status": "Accepted"}
    vs = await vs_with_profile(controller, profile)
    await akod.wait_in_sync()
    # The VS has the network profile, the SSL listener, its application profile and certificate.
    assert [(s["port"], s["enable_ssl"]) for s in vs["services"]] == [(80, True)]
    ssl_app = await controller.one("applicationprofile", "System-SSL-Application")
    cert = await controller.one("sslkeyandcertificate", "System-Default-Cert")
    assert points_at(vs["application_profile_ref"], ssl_app)
    assert [points_at(r, cert) for r in vs["ssl_key_and_certificate_refs"]] == [True]
    assert vs["performance_limits"]["max_concurrent_connections"] == 1000
    pool = await controller.one("pool", HACK_POOL)
    http = await controller.one("healthmonitor", "System-HTTP")
    persistence = await controller.one("applicationpersistenceprofile", "System-Persistence-Client-IP")
    assert pool["lb_algorithm"] == "LB_ALGORITHM_ROUND_ROBIN" and pool["min_servers_up"] == 1
    assert [points_at(r, http) for r in pool["health_monitor_refs"]] == [True]
    assert points_at(pool["application_persistence_profile_ref"], persistence)
    # One write per changed object; kuard is untouched.
    step = per_object((await controller.writes())[writes_before:])
    assert step == {("PUT", f"/api/virtualservice/{vs['uuid']}"): 1, ("PUT", f"/api/pool/{pool['uuid']}"): 1}, step

    code, objects = await akod.get("/objects?kind=Service&namespace=default&name=hackazon")
    assert code == 200
    assert objects["objects"][0]["custom_resources"] == [{"kind": "L4Rule", "namespace": "default",
                                                          "name": "hackazon"}]
    code, objects = await akod.get("/objects?kind=L4Rule&namespace=default&name=hackazon")
    (entry,) = objects["objects"]
    assert entry["effect"]["networkProfileRef"] == PROFILE and entry["acts_on_keys"] == [f"l4:{HACK_VS}"]

    # A hand edit takes the network profile off: the drift check puts it back.
    edited = {**vs, "network_profile_ref": before_vs["network_profile_ref"]}
    code, answer = await controller.call("PUT", f"/api/virtualservice/{vs['uuid']}", edited)
    assert code == 200, answer
    await vs_with_profile(controller, profile, what="the network profile put back by the drift check")
    await akod.wait_in_sync()

    # A restart with nothing changed writes nothing.
    assert akod.stop() == 0
    writes_before = len(await controller.writes())
    akod.start()
    await akod.wait_in_sync()
    assert (await controller.writes())[writes_before:] == []

    # An edit of a VS field: the VS is written once, the pool not at all.
    writes_before = len(await controller.writes())
    await l4rules.patch("default", "hackazon", {"performanceLimits": {"maxConcurrentConnections": 2000}})

    async def edited_limit() -> bool:
        found = await controller.one("virtualservice", HACK_VS)
        return found["performance_limits"]["max_concurrent_connections"] == 2000

    await eventually(edited_limit, timeout=30, what="the edited performance limit")
    await akod.wait_in_sync()
    assert per_object((await controller.writes())[writes_before:]) == {("PUT", f"/api/virtualservice/{vs['uuid']}"): 1}

    # The annotation removed: back to the defaults, one write per object; put back: applied again.
    for value, want in ((None, before_vs["network_profile_ref"]), ("hackazon", None)):
        writes_before = len(await controller.writes())
        await services.patch("default", "hackazon", {"metadata": {"annotations": {ANNOTATION: value}}})

        async def profile_is(want: str | None = want) -> bool:
            found = await controller.one("virtualservice", HACK_VS)
            return found["network_profile_ref"] == want if want else points_at(found["network_profile_ref"], profile)

        await eventually(profile_is, timeout=30, what=f"hackazon's VS with the annotation {value}")
        await akod.wait_in_sync()
        assert per_object((await controller.writes())[writes_before:]) == {
            ("PUT", f"/api/virtualservice/{vs['uuid']}"): 1, ("PUT", f"/api/pool/{pool['uuid']}"): 1}, value

    # Deleting the L4Rule: back to the defaults, one write per object; the Service says what it names.
    writes_before = len(await controller.writes())
    await l4rules.delete("default", "hackazon")

    async def restored() -> dict[str, Any] | bool:
        found = await controller.one("virtualservice", HACK_VS)
        return found if found["network_profile_ref"] == before_vs["network_profile_ref"] else False

    vs = await eventually(restored, timeout=30, what="hackazon's VS without the L4Rule")
    await akod.wait_in_sync()
    for field in ("application_profile_ref", "services", "network_profile_ref"):
        assert vs.get(field) == before_vs.get(field), field
    assert "performance_limits" not in vs and "ssl_key_and_certificate_refs" not in vs
    pool = await controller.one("pool", HACK_POOL)
    for field in ("lb_algorithm", "health_monitor_refs", "application_persistence_profile_ref", "min_servers_up"):
        assert pool.get(field) == before_pool.get(field), field
    step = per_object((await controller.writes())[writes_before:])
    assert step == {("PUT", f"/api/virtualservice/{vs['uuid']}"): 1, ("PUT", f"/api/pool/{pool['uuid']}"): 1}, step
    status = await akod.wait_in_sync()
    assert ("Service", "hackazon", FIELD, "L4RuleNotFound") in errors_of(status)

    # The annotation removed too: nothing to write, and the problem goes.
    writes_before = len(await controller.writes())
    await services.patch("default", "hackazon", {"metadata": {"annotations": {ANNOTATION: None}}})

    async def no_problem() -> bool:
        return ("Service", "hackazon", FIELD, "L4RuleNotFound") not in errors_of(await akod.status())

    await eventually(no_problem, timeout=30, what="the Service's problem gone with the annotation")
    await akod.wait_in_sync()
    assert (await controller.writes())[writes_before:] == []
    assert akod.stop() == 0


async def test_rejections_name_the_field_change_nothing_and_a_missing_l4rule_leaves_the_defaults(
        controller: Controller, nodes: Nodes, services: Any, l4rules: L4Rules, make_daemon: Any) -> None:
    await seed(nodes, services, hackazon="bad-ref", kuard="nope")
    akod = make_daemon(extra_config=FAST_RECHECK)
    akod.start()
    await akod.wait_in_sync()
    default_vs = await controller.one("virtualservice", HACK_VS)

    # A ref to an Avi object that does not exist: rejected naming the field; nothing changes.
    await l4rules.create("default", "bad-ref", {"networkProfileRef": "No-Such-Profile"})
    rejected = await status_of(l4rules, "bad-ref", "Rejected")
    assert rejected["error"].startswith("spec.networkProfileRef: NetworkProfile 'No-Such-Profile' does not exist")
    # An invalid field the CRD lets through (AKO's validateLBAlgorithm).
    await l4rules.create("default", "bad-field", {"backendProperties": [
        {"port": 80, "protocol": "TCP", "lbAlgorithm": "LB_ALGORITHM_CONSISTENT_HASH"}]})
    invalid = await status_of(l4rules, "bad-field", "Rejected")
    assert invalid["error"].startswith("spec.backendProperties[0].lbAlgorithmHash: must be specified"), invalid
    # An application profile of a type an L4 VS cannot have (AKO reads its type too).
    await l4rules.create("default", "http-profile", {"applicationProfileRef": "System-HTTP"})
    wrong = await status_of(l4rules, "http-profile", "Rejected")
    assert wrong["error"].startswith("spec.applicationProfileRef: 'System-HTTP' is of type "
                                     "APPLICATION_PROFILE_TYPE_HTTP"), wrong

    async def reported() -> dict[str, Any] | bool:
        status = await akod.status()
        found = errors_of(status)
        return status if {("Service", "hackazon", FIELD, "L4RuleNotAccepted"),
                          ("Service", "kuard", FIELD, "L4RuleNotFound"),
                          ("L4Rule", "bad-ref", "spec.networkProfileRef", "AviObjectMissing"),
                          ("L4Rule", "bad-field", "spec.backendProperties[0].lbAlgorithmHash",
                           "InvalidField")} <= found else False

    await eventually(reported, timeout=30, what="the problems in /status")
    await akod.wait_in_sync()
    # Both Services are served with the defaults; the daemon runs on.
    vs = await controller.one("virtualservice", HACK_VS)
    assert vs["network_profile_ref"] == default_vs["network_profile_ref"]
    assert await controller.one("virtualservice", KUARD_VS)
    akod.assert_running()

    async def event() -> bool:
        return any(e.reason == "AviObjectMissing" and "networkProfileRef" in e.message
                   for e in await l4rules.events_for("default", "bad-ref"))

    await eventually(event, what="the Event of the rejected L4Rule")

    # The missing object appears: the L4Rule is accepted at the next check and applied.
    profile = await network_profile(controller, "No-Such-Profile")
    await status_of(l4rules, "bad-ref", "Accepted")
    await vs_with_profile(controller, profile)

    # An accepted L4Rule edited into something invalid: reported, its last good effect stays.
    await l4rules.patch("default", "bad-ref", {"networkProfileRef": "Typo-Profile"})
    broken = await status_of(l4rules, "bad-ref", "Rejected")
    assert broken["error"].startswith("spec.networkProfileRef: NetworkProfile 'Typo-Profile'")
    assert broken["error"].endswith("the last accepted spec stays applied")
    await akod.wait_in_sync()
    assert points_at((await controller.one("virtualservice", HACK_VS))["network_profile_ref"], profile)
    # ... across a restart too, with nothing written.
    assert akod.stop() == 0
    writes_before = len(await controller.writes())
    akod.start()
    await akod.wait_in_sync()
    assert points_at((await controller.one("virtualservice", HACK_VS))["network_profile_ref"], profile)
    assert (await controller.writes())[writes_before:] == []

    # kuard names an L4Rule with a loadBalancerIP: once it exists, kuard's VIP is that address.
    # Its backendProperties entry of a port kuard does not have is named in a warning Event.
    await l4rules.create("default", "nope", {"loadBalancerIP": "10.10.25.77", "backendProperties": [
        {"port": 9999, "protocol": "TCP", "lbAlgorithm": "LB_ALGORITHM_ROUND_ROBIN"}]})
    await status_of(l4rules, "nope", "Accepted")

    async def kuard_ip() -> bool:
        vsvip = await controller.one("vsvip", KUARD_VS)
        return [v.get("ip_address", {}).get("addr") for v in vsvip["vip"]] == ["10.10.25.77"]

    await eventually(kuard_ip, timeout=30, what="kuard's VIP from the L4Rule")

    async def warned() -> bool:
        return any(e.reason == "FieldNotApplied" and "spec.backendProperties[0]" in e.message
                   for e in await l4rules.events_for("default", "nope"))

    await eventually(warned, what="the FieldNotApplied Event of the L4Rule")
    assert "lb_algorithm" not in await controller.one("pool", f"{KUARD_VS}-TCP-8080") or \
        (await controller.one("pool", f"{KUARD_VS}-TCP-8080"))["lb_algorithm"] != "LB_ALGORITHM_ROUND_ROBIN"
    akod.assert_running()
    assert akod.stop() == 0


async def test_kill9_while_l4rules_are_applied_then_restart_gives_exact_objects(
        controller: Controller, nodes: Nodes, services: Any, l4rules: L4Rules, make_daemon: Any) -> None:
    await nodes.seed()
    count = 12
    for i in range(count):
        await services.create("default", f"svc{i}", ports=[(80, "TCP")], endpoints=[f"10.34.1.{20 + i}"],
                              annotations={ANNOTATION: f"r{i}"})
    profile = await network_profile(controller, PROFILE)
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync(timeout=90)
    await controller.faults({"latency_ms": {"write": 150}})
    spec = {"networkProfileRef": PROFILE, "backendProperties": [
        {"port": 80, "protocol": "TCP", "lbAlgorithm": "LB_ALGORITHM_ROUND_ROBIN"}]}
    for i in range(count):
        await l4rules.create("default", f"r{i}", spec)

    async def some_applied() -> bool:
        found = [await controller.one("virtualservice", f"{C}--default-svc{i}") for i in range(count)]
        return sum(1 for vs in found if points_at(vs.get("network_profile_ref"), profile)) >= 3

    await eventually(some_applied, timeout=60, interval=0.05, what="the first L4Rules applied")
    akod.kill9()
    at_kill = [await controller.one("virtualservice", f"{C}--default-svc{i}") for i in range(count)]
    print("L4Rules applied when killed:", sum(1 for vs in at_kill if points_at(vs.get("network_profile_ref"), profile)))
    await controller.faults({"latency_ms": {"write": 0, "read": 0}})
    akod.start()
    await akod.wait_in_sync(timeout=90)
    for i in range(count):
        vs = await controller.one("virtualservice", f"{C}--default-svc{i}")
        pool = await controller.one("pool", f"{C}--default-svc{i}-TCP-80")
        assert points_at(vs.get("network_profile_ref"), profile), i
        assert pool["lb_algorithm"] == "LB_ALGORITHM_ROUND_ROBIN", i
        assert await l4rules.status("default", f"r{i}") == {"status": "Accepted"}
    for obj_type in ("virtualservice", "pool", "vsvip"):
        names = [o["name"] for o in await controller.objects(obj_type, contains=f"{C}--")]
        assert len(names) == len(set(names)) == count, (obj_type, names)
    plan = akod_cli("plan", "--config", str(akod.config))
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert akod.stop() == 0
