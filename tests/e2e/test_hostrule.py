"""Issue 10, HostRule end to end: accepted, applied, edited, rejected, removed; kill -9 mid-way.

Real kube-apiserver with AKO's CRDs installed from `deploy/crds/` (and removed after this module,
so the other tests see a cluster without them), the emulator in strict mode, `akod run` as a
process. What a user sees is asserted: the SNI child's refs on the controller, what the emulator's
data plane presents for the host, the HostRule's `status`, `/status` and `/objects`, the writes.
"""

from __future__ import annotations

import collections
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from akod.devenv import crds
from akod.devenv.crds import HostRules
from tests.e2e.conftest import Controller, Nodes
from tests.e2e.harness import akod_cli, eventually
from tests.e2e.ingresses import Ingresses, make_cert, path, rule
from tests.e2e.test_l7 import HACK, KUARD, routed, seed_ingresses, shard, vip_of

C = "S1-AZ1"
CHILD = f"{C}--{KUARD}"
AVI_CERT = "kuard-avi-cert"
APP_PROFILE = "kuard-app-profile"
WAF = "System-WAF-Policy"
FAST_RECHECK = "[sync]\ndrift_check_s = 2\n"


@pytest.fixture(scope="module")
async def crd_cluster(kube_client: client.ApiClient) -> AsyncIterator[None]:
    await crds.install(kube_client)
    yield
    await crds.remove(kube_client)


@pytest.fixture
async def hostrules(crd_cluster: None, kube_client: client.ApiClient) -> AsyncIterator[HostRules]:
    made = HostRules(kube_client)
    await made.delete_all()
    yield made
    await made.delete_all()


async def avi_objects(controller: Controller) -> None:
    """What the HostRules of these tests name: an Avi certificate and an application profile."""
    cert, key = make_cert(KUARD)
    code, body = await controller.call("POST", "/api/sslkeyandcertificate", {
        "name": AVI_CERT, "type": "SSL_CERTIFICATE_TYPE_VIRTUALSERVICE", "certificate": {"certificate": cert},
        "key": key})
    assert code == 201, body
    code, body = await controller.call("POST", "/api/applicationprofile",
                                       {"name": APP_PROFILE, "type": "APPLICATION_PROFILE_TYPE_HTTP"})
    assert code == 201, body


def points_at(ref: str | None, obj: dict[str, Any]) -> bool:
    return bool(ref) and str(ref).split("#")[0].endswith(f"/{obj['uuid']}")


async def status_of(hostrules: HostRules, name: str, want: str) -> dict[str, str]:
    async def probe() -> dict[str, str] | bool:
        found = await hostrules.status("default", name)
        return found if found.get("status") == want else False

    return await eventually(probe, timeout=30, what=f"HostRule {name} {want}")


def per_object(writes: list[dict[str, Any]]) -> collections.Counter[tuple[str, str]]:
    return collections.Counter((w["method"], w["path"]) for w in writes)


async def test_a_hostrule_gives_the_sni_child_its_certificate_waf_and_profile_and_deleting_it_restores_them(
        controller, nodes: Nodes, services, ingresses: Ingresses, hostrules: HostRules, make_daemon) -> None:
    await seed_ingresses(services, nodes, ingresses)
    await avi_objects(controller)
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    kuard_vip = await vip_of(controller, shard(KUARD))
    before = await controller.one("virtualservice", CHILD)
    own_cert = await controller.one("sslkeyandcertificate", CHILD)
    assert points_at(before["ssl_key_and_certificate_refs"][0], own_cert)
    assert "waf_policy_ref" not in before
    writes_before = len(await controller.writes())

    await hostrules.create("default", "kuard", {
        "fqdn": KUARD, "tls": {"sslKeyCertificate": {"name": AVI_CERT, "type": "ref"}},
        "wafPolicy": WAF, "applicationProfile": APP_PROFILE})
    assert await status_of(hostrules, "kuard", "Accepted") == {"status": "Accepted"}
    cert = await controller.one("sslkeyandcertificate", AVI_CERT)
    waf = await controller.one("wafpolicy", WAF)
    app = await controller.one("applicationprofile", APP_PROFILE)

    async def applied() -> dict[str, Any] | bool:
        vs = await controller.one("virtualservice", CHILD)
        return vs if points_at(vs.get("waf_policy_ref"), waf) else False

    child = await eventually(applied, timeout=30, what="the HostRule on the SNI child")
    assert [points_at(r, cert) for r in child["ssl_key_and_certificate_refs"]] == [True]
    assert points_at(child["application_profile_ref"], app)
    answer = await routed(controller, vip=kuard_vip, port=443, host=KUARD)
    assert answer["certificate"] == AVI_CERT and answer["vs"] == CHILD
    await akod.wait_in_sync()
    # The Avi certificate replaces the one made from the Secret: one PUT of the child, one DELETE.
    step = per_object((await controller.writes())[writes_before:])
    assert step == {("PUT", f"/api/virtualservice/{child['uuid']}"): 1,
                    ("DELETE", f"/api/sslkeyandcertificate/{own_cert['uuid']}"): 1}, step
    assert await controller.maybe("sslkeyandcertificate", CHILD) is None
    # The other host is untouched and still served.
    hack = await routed(controller, vip=await vip_of(controller, shard(HACK)), port=80, host=HACK)
    assert hack["vs"] == shard(HACK)

    code, objects = await akod.get("/objects?kind=Ingress&namespace=default&name=kuard")
    assert code == 200
    assert objects["objects"][0]["custom_resources"] == [
        {"kind": "HostRule", "namespace": "default", "name": "kuard", "host": KUARD}]
    code, objects = await akod.get("/objects?kind=HostRule&namespace=default&name=kuard")
    (entry,) = objects["objects"]
    assert entry["effect"]["wafPolicy"] == WAF and entry["acts_on_keys"] == [f"l7:{shard(KUARD)}"]

    # A restart with nothing changed writes nothing.
    assert akod.stop() == 0
    writes_before = len(await controller.writes())
    akod.start()
    await akod.wait_in_sync()
    assert (await controller.writes())[writes_before:] == []

    writes_before = len(await controller.writes())
    await hostrules.delete("default", "kuard")

    async def restored() -> dict[str, Any] | bool:
        vs = await controller.one("virtualservice", CHILD)
        return vs if "waf_policy_ref" not in vs else False

    child = await eventually(restored, timeout=30, what="the SNI child without the HostRule")
    await akod.wait_in_sync()
    own_cert = await controller.one("sslkeyandcertificate", CHILD)
    assert [points_at(r, own_cert) for r in child["ssl_key_and_certificate_refs"]] == [True]
    default_app = await controller.one("applicationprofile", "System-Secure-HTTP")
    assert points_at(child["application_profile_ref"], default_app)
    answer = await routed(controller, vip=kuard_vip, port=443, host=KUARD)
    assert answer["certificate"] == CHILD
    step = per_object((await controller.writes())[writes_before:])
    assert step == {("POST", "/api/sslkeyandcertificate"): 1, ("PUT", f"/api/virtualservice/{child['uuid']}"): 1}, step
    assert akod.stop() == 0


async def test_rejections_name_the_field_and_change_nothing_and_a_broken_edit_keeps_the_last_good_effect(
        controller, nodes: Nodes, services, ingresses: Ingresses, hostrules: HostRules, make_daemon) -> None:
    await seed_ingresses(services, nodes, ingresses)
    await avi_objects(controller)
    akod = make_daemon(extra_config=FAST_RECHECK)
    akod.start()
    await akod.wait_in_sync()
    app = await controller.one("applicationprofile", APP_PROFILE)

    # A ref to an Avi object that does not exist: rejected, nothing changes.
    await hostrules.create("default", "nowaf", {"fqdn": HACK, "wafPolicy": "No-Such-WAF"})
    rejected = await status_of(hostrules, "nowaf", "Rejected")
    assert rejected["error"].startswith("spec.virtualhost.wafPolicy: WafPolicy 'No-Such-WAF' does not exist")
    # Two HostRules for one FQDN: the older keeps it, the second is rejected.
    await hostrules.create("default", "first", {"fqdn": KUARD, "applicationProfile": APP_PROFILE})
    await status_of(hostrules, "first", "Accepted")
    await hostrules.create("default", "second", {"fqdn": KUARD, "wafPolicy": WAF})
    second = await status_of(hostrules, "second", "Rejected")
    assert second["error"].startswith(f"spec.virtualhost.fqdn: {KUARD} is already claimed by the older HostRule "
                                      "default/first"), second

    async def first_applied() -> dict[str, Any] | bool:
        vs = await controller.one("virtualservice", CHILD)
        return vs if points_at(vs.get("application_profile_ref"), app) else False

    child = await eventually(first_applied, timeout=30, what="the older HostRule on the SNI child")
    assert "waf_policy_ref" not in child
    await akod.wait_in_sync()
    hack = await controller.one("virtualservice", shard(HACK))
    assert "waf_policy_ref" not in hack
    status = await akod.status()
    errors = {(e["kind"], e["name"], e["field"]) for e in status["errors"]}
    assert ("HostRule", "nowaf", "spec.virtualhost.wafPolicy") in errors
    assert ("HostRule", "second", "spec.virtualhost.fqdn") in errors
    async def event() -> bool:
        return any(e.reason == "AviObjectMissing" and "wafPolicy" in e.message
                   for e in await hostrules.events_for("default", "nowaf"))

    await eventually(event, what="the Event of the rejected HostRule")
    # The daemon and the other host are unaffected.
    answer = await routed(controller, vip=await vip_of(controller, shard(HACK)), port=80, host=HACK)
    assert answer["pool"] == f"{C}--{HACK}_-default-hackazon"

    # The missing object appears: the HostRule is accepted at the next check.
    code, body = await controller.call("POST", "/api/wafpolicy", {
        "name": "No-Such-WAF", "waf_profile_ref": "/api/wafprofile/?name=System-WAF-Profile"})
    assert code == 201, body
    await status_of(hostrules, "nowaf", "Accepted")

    # An accepted HostRule edited into something invalid: reported, its last good effect stays.
    await hostrules.patch("default", "first", {"applicationProfile": "Typo-Profile"})
    broken = await status_of(hostrules, "first", "Rejected")
    assert broken["error"].startswith("spec.virtualhost.applicationProfile: ApplicationProfile 'Typo-Profile'")
    assert broken["error"].endswith("the last accepted spec stays applied")
    await akod.wait_in_sync()
    assert points_at((await controller.one("virtualservice", CHILD))["application_profile_ref"], app)
    # ... across a restart too, with nothing written.
    assert akod.stop() == 0
    writes_before = len(await controller.writes())
    akod.start()
    await akod.wait_in_sync()
    assert points_at((await controller.one("virtualservice", CHILD))["application_profile_ref"], app)
    assert [w for w in (await controller.writes())[writes_before:]] == []
    assert akod.stop() == 0
    # `akod plan` knows the kept effect too: nothing to do.
    plan = akod_cli("plan", "--config", str(akod.config))
    assert plan.returncode == 0, plan.stdout + plan.stderr


async def test_an_unknown_fqdn_type_is_refused_by_the_crd_and_rejected_by_akod_where_the_crd_lets_it_through(
        controller, nodes: Nodes, services, ingresses: Ingresses, hostrules: HostRules, kube_client,
        make_daemon) -> None:
    with pytest.raises(ApiException) as refused:
        await hostrules.create("default", "badtype", {"fqdn": KUARD, "fqdnType": "Regex"})
    assert refused.value.status == 422 and "fqdnType" in refused.value.body
    # A CRD edited to accept any fqdnType (no enum): akod rejects it itself.
    relaxed = crds.manifest("hostrules")
    for version in relaxed["spec"]["versions"]:
        vh = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["virtualhost"]
        vh["properties"]["fqdnType"].pop("enum")
    await crds.install(kube_client, manifests=[relaxed])
    try:
        await seed_ingresses(services, nodes, ingresses)
        akod = make_daemon()
        akod.start()
        await akod.wait_in_sync()

        async def created() -> bool:
            try:
                await hostrules.create("default", "badtype", {"fqdn": KUARD, "fqdnType": "Regex", "wafPolicy": WAF})
            except ApiException as exc:
                if exc.status == 422:
                    return False  # the relaxed schema is not in force yet
                raise
            return True

        await eventually(created, timeout=30, what="the relaxed CRD in force")
        rejected = await status_of(hostrules, "badtype", "Rejected")
        assert rejected["error"].startswith("spec.virtualhost.fqdnType: must be one of Exact, Wildcard, Contains")
        await akod.wait_in_sync()
        assert "waf_policy_ref" not in await controller.one("virtualservice", CHILD)
        akod.assert_running()
        assert akod.stop() == 0
    finally:
        await hostrules.delete_all()
        await crds.install(kube_client, ["hostrules"])


async def test_kill9_while_hostrules_are_applied_then_restart_gives_exact_objects(
        controller, nodes: Nodes, services, ingresses: Ingresses, hostrules: HostRules, make_daemon) -> None:
    await nodes.seed()
    await services.create("default", "kuard", ports=[(8080, "TCP")], endpoints=["10.34.1.11"], svc_type="ClusterIP")
    hosts = [f"hr{i}.avi.iberia.local" for i in range(16)]
    for i, host in enumerate(hosts):
        cert, key = make_cert(host)
        await ingresses.secret("default", f"hr{i}-tls", cert=cert, key=key)
        await ingresses.create("default", f"hr{i}", rules=[rule(host, path("/", "kuard", 8080))],
                               tls=[([host], f"hr{i}-tls")])
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync(timeout=90)
    await avi_objects(controller)
    await controller.faults({"latency_ms": {"write": 150}})
    for i, host in enumerate(hosts):
        await hostrules.create("default", f"hr{i}", {"fqdn": host, "wafPolicy": WAF,
                                                     "applicationProfile": APP_PROFILE})
    waf = await controller.one("wafpolicy", WAF)

    async def some_applied() -> bool:
        children = [await controller.maybe("virtualservice", f"{C}--{h}") for h in hosts]
        return sum(1 for c in children if c and points_at(c.get("waf_policy_ref"), waf)) >= 3

    await eventually(some_applied, timeout=60, interval=0.05, what="the first HostRules applied")
    akod.kill9()
    await controller.faults({"latency_ms": {"write": 0, "read": 0}})
    akod.start()
    await akod.wait_in_sync(timeout=90)
    app = await controller.one("applicationprofile", APP_PROFILE)
    for host in hosts:
        child = await controller.one("virtualservice", f"{C}--{host}")
        assert points_at(child.get("waf_policy_ref"), waf) and points_at(child["application_profile_ref"], app), host
    for i in range(len(hosts)):
        assert await hostrules.status("default", f"hr{i}") == {"status": "Accepted"}
    names = [vs["name"] for vs in await controller.objects("virtualservice", contains=f"{C}--")]
    assert len(names) == len(set(names)), "duplicate virtual services"
    plan = akod_cli("plan", "--config", str(akod.config))
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert akod.stop() == 0


async def test_a_cluster_without_the_crds_works_and_says_so(
        controller, nodes: Nodes, services, ingresses: Ingresses, kube_client, make_daemon) -> None:
    ext = client.ApiextensionsV1Api(kube_client)
    installed = any(c.metadata.name.endswith(".ako.vmware.com")
                    for c in (await ext.list_custom_resource_definition()).items)
    if installed:
        await crds.remove(kube_client)
    try:
        await seed_ingresses(services, nodes, ingresses)
        akod = make_daemon()
        akod.start()
        status = await akod.wait_in_sync()
        # Only the CRDs some family reads are looked for: all four of AKO's.
        ako = {"hostrules", "httprules", "aviinfrasettings", "l4rules"}
        assert set(status["kubernetes"]["absent_crds"]) & ako == ako  # and the CNIs' may be absent too
        assert status["kubernetes"]["missing"] == {}
        assert await controller.maybe("virtualservice", CHILD) is not None
        assert akod.log().count("hostrules: the server serves none") == 1
        assert json.dumps(status).count("HostRule") == 0
        assert akod.stop() == 0
    finally:
        if installed:  # the module's other tests keep their CRDs
            await crds.install(kube_client)


async def test_plan_names_the_hostrule_behind_a_change_and_drift_repair_puts_its_refs_back(
        controller, nodes: Nodes, services, ingresses: Ingresses, hostrules: HostRules, make_daemon) -> None:
    await seed_ingresses(services, nodes, ingresses)
    await avi_objects(controller)
    akod = make_daemon(extra_config=FAST_RECHECK)
    akod.start()
    await akod.wait_in_sync()
    assert akod.stop() == 0
    await hostrules.create("default", "kuard", {"fqdn": KUARD, "wafPolicy": WAF,
                                                "applicationProfile": APP_PROFILE})
    # What the HostRule would change, before anything is changed.
    plan = akod_cli("plan", "--config", str(akod.config), "--json")
    assert plan.returncode == 10, plan.stdout + plan.stderr
    planned = json.loads(plan.stdout)["objects"]
    assert [(c["action"], c["type"], c["name"]) for c in planned] == [("update", "virtualservice", CHILD)], planned
    assert "HostRule default/kuard" in planned[0]["for"]
    assert "waf_policy_ref" not in await controller.one("virtualservice", CHILD)

    akod.start()
    await status_of(hostrules, "kuard", "Accepted")
    waf = await controller.one("wafpolicy", WAF)

    async def applied() -> dict[str, Any] | bool:
        vs = await controller.one("virtualservice", CHILD)
        return vs if points_at(vs.get("waf_policy_ref"), waf) else False

    child = await eventually(applied, timeout=30, what="the HostRule on the SNI child")
    await akod.wait_in_sync()
    # A hand edit takes the WAF policy off: the drift check puts it back.
    edited = {k: v for k, v in child.items() if k != "waf_policy_ref"}
    code, answer = await controller.call("PUT", f"/api/virtualservice/{child['uuid']}", edited)
    assert code == 200, answer
    await eventually(applied, timeout=30, what="the WAF policy put back by the drift check")
    await akod.wait_in_sync()
    # Deleted while akod is down: at the restart its effect goes, in one write, with no flapping.
    assert akod.stop() == 0
    await hostrules.delete("default", "kuard")
    writes_before = len(await controller.writes())
    akod.start()
    await akod.wait_in_sync()
    assert per_object((await controller.writes())[writes_before:]) == {
        ("PUT", f"/api/virtualservice/{child['uuid']}"): 1}
    assert "waf_policy_ref" not in await controller.one("virtualservice", CHILD)
    assert akod.stop() == 0


async def test_analytics_policy_lands_on_the_sni_child_and_a_network_security_policy_there_is_warned_about(
        controller, nodes: Nodes, services, ingresses: Ingresses, hostrules: HostRules, make_daemon) -> None:
    await seed_ingresses(services, nodes, ingresses)
    code, answer = await controller.call("POST", "/api/networksecuritypolicy", {"name": "kuard-nsp"})
    assert code == 201, answer
    akod = make_daemon(extra_config=FAST_RECHECK)
    akod.start()
    await akod.wait_in_sync()
    writes_before = len(await controller.writes())
    await hostrules.create("default", "kuard", {
        "fqdn": KUARD, "networkSecurityPolicy": "kuard-nsp",
        "analyticsPolicy": {"fullClientLogs": {"enabled": True, "throttle": "LOW"}, "logAllHeaders": True}})
    assert await status_of(hostrules, "kuard", "Accepted") == {"status": "Accepted"}

    async def applied() -> dict[str, Any] | bool:
        vs = await controller.one("virtualservice", CHILD)
        return vs if (vs.get("analytics_policy") or {}).get("all_headers") is True else False

    child = await eventually(applied, timeout=30, what="the analytics policy on the SNI child")
    assert child["analytics_policy"]["full_client_logs"] == {"enabled": True, "duration": 0, "throttle": 50}
    # An SNI child shares its parent's listener: the policy is not applied there, and the user is told.
    assert "network_security_policy_ref" not in child
    assert "network_security_policy_ref" not in await controller.one("virtualservice", shard(KUARD))

    async def warned() -> bool:
        return any(e.reason == "FieldNotApplied" and "spec.virtualhost.networkSecurityPolicy" in e.message
                   for e in await hostrules.events_for("default", "kuard"))

    await eventually(warned, timeout=30, what="a FieldNotApplied Event naming networkSecurityPolicy")
    await akod.wait_in_sync()
    assert per_object((await controller.writes())[writes_before:]) == {
        ("PUT", f"/api/virtualservice/{child['uuid']}"): 1}
    # Taken off by hand on the controller: the drift check puts it back.
    code, answer = await controller.call("PUT", f"/api/virtualservice/{child['uuid']}",
                                         {k: v for k, v in child.items() if k != "analytics_policy"})
    assert code == 200, answer
    await eventually(applied, timeout=30, what="the analytics policy put back by the drift check")
    await hostrules.delete("default", "kuard")

    async def removed() -> bool:
        vs = await controller.one("virtualservice", CHILD)
        return not (vs.get("analytics_policy") or {}).get("all_headers")

    await eventually(removed, timeout=30, what="the analytics policy gone with the HostRule")
    assert akod.stop() == 0


async def test_aliases_serve_more_names_of_a_host_and_an_alias_is_claimed_like_an_fqdn(
        controller, nodes: Nodes, services, ingresses: Ingresses, hostrules: HostRules, make_daemon) -> None:
    await seed_ingresses(services, nodes, ingresses)
    alias, hack_alias = "kuard-alias.avi.iberia.local", "hackazon-alias.avi.iberia.local"
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    await hostrules.create("default", "kuard", {"fqdn": KUARD, "aliases": [alias]})
    await hostrules.create("default", "hack", {"fqdn": HACK, "aliases": [hack_alias]})
    assert await status_of(hostrules, "kuard", "Accepted") == {"status": "Accepted"}
    assert await status_of(hostrules, "hack", "Accepted") == {"status": "Accepted"}

    async def applied() -> dict[str, Any] | bool:
        vs = await controller.one("virtualservice", CHILD)
        return vs if alias in (vs.get("vh_domain_name") or []) else False

    child = await eventually(applied, timeout=30, what="the alias on the SNI child")
    assert child["vh_domain_name"] == [KUARD, alias]
    await akod.wait_in_sync()
    kuard_vip = await vip_of(controller, shard(KUARD))
    answer = await routed(controller, vip=kuard_vip, port=443, host=alias)
    assert answer["vs"] == CHILD and answer["pool"].startswith(f"{C}--default-{KUARD}"), answer
    hack_vip = await vip_of(controller, shard(HACK))
    answer = await routed(controller, vip=hack_vip, port=80, host=hack_alias)
    assert answer["pool"] == f"{C}--{HACK}_-default-hackazon", answer
    vsvip = await controller.one("vsvip", shard(KUARD))
    assert alias in [d["fqdn"] for d in vsvip.get("dns_info") or []]

    # A younger HostRule for the alias loses it, naming the field; the older keeps serving it.
    await hostrules.create("default", "thief", {"fqdn": alias, "wafPolicy": WAF})
    found = await status_of(hostrules, "thief", "Rejected")
    assert found["error"].startswith("spec.virtualhost.fqdn: ") and "default/kuard" in found["error"], found
    assert "waf_policy_ref" not in await controller.one("virtualservice", CHILD)

    await hostrules.delete("default", "kuard")

    async def gone() -> bool:
        vs = await controller.one("virtualservice", CHILD)
        return vs["vh_domain_name"] == [KUARD]

    await eventually(gone, timeout=30, what="the alias gone with its HostRule")
    assert akod.stop() == 0


async def test_a_secret_certificate_replaces_the_ingress_one_once_the_secret_exists_and_goes_with_the_hostrule(
        controller, nodes: Nodes, services, ingresses: Ingresses, hostrules: HostRules, make_daemon) -> None:
    await seed_ingresses(services, nodes, ingresses)
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    own = (await controller.one("sslkeyandcertificate", CHILD))["certificate"]["certificate"].strip()
    await hostrules.create("default", "kuard", {
        "fqdn": KUARD, "tls": {"sslKeyCertificate": {"name": "kuard-hostrule-tls", "type": "secret"}}})
    found = await status_of(hostrules, "kuard", "Rejected")
    assert found["error"].startswith("spec.virtualhost.tls.sslKeyCertificate.name: Secret default/kuard-hostrule-tls")
    await akod.wait_in_sync()
    assert (await controller.one("sslkeyandcertificate", CHILD))["certificate"]["certificate"].strip() == own

    writes_before = len(await controller.writes())
    cert, key = make_cert(KUARD, days=90)
    await ingresses.secret("default", "kuard-hostrule-tls", cert=cert, key=key)
    assert await status_of(hostrules, "kuard", "Accepted") == {"status": "Accepted"}

    async def replaced() -> dict[str, Any] | bool:
        obj = await controller.one("sslkeyandcertificate", CHILD)
        return obj if obj["certificate"]["certificate"].strip() == cert.strip() else False

    made = await eventually(replaced, timeout=30, what="the SNI child's certificate from the HostRule's Secret")
    await akod.wait_in_sync()
    assert per_object((await controller.writes())[writes_before:]) == {
        ("PUT", f"/api/sslkeyandcertificate/{made['uuid']}"): 1}
    answer = await routed(controller, vip=await vip_of(controller, shard(KUARD)), port=443, host=KUARD)
    assert answer["vs"] == CHILD and answer["certificate"] == CHILD

    await hostrules.delete("default", "kuard")

    async def restored() -> bool:
        obj = await controller.one("sslkeyandcertificate", CHILD)
        return bool(obj["certificate"]["certificate"].strip() == own)

    await eventually(restored, timeout=30, what="the Ingress's certificate back")
    assert akod.stop() == 0


async def test_tcp_settings_and_a_network_security_policy_on_a_dedicated_vs(
        controller, nodes: Nodes, services, ingresses: Ingresses, hostrules: HostRules, make_daemon) -> None:
    await seed_ingresses(services, nodes, ingresses)
    code, answer = await controller.call("POST", "/api/networksecuritypolicy", {"name": "kuard-nsp"})
    assert code == 201, answer
    akod = make_daemon(extra_config='[l7]\nshard_vs_size = "DEDICATED"\n')
    akod.start()
    await akod.wait_in_sync()
    kuard_vs = f"{C}--{KUARD}-L7-dedicated"
    await hostrules.create("default", "kuard", {
        "fqdn": KUARD, "networkSecurityPolicy": "kuard-nsp",
        "tcpSettings": {"listeners": [{"port": 8080}, {"port": 8443, "enableSSL": True}],
                        "loadBalancerIP": "10.10.25.77"}})
    assert await status_of(hostrules, "kuard", "Accepted") == {"status": "Accepted"}
    nsp = await controller.one("networksecuritypolicy", "kuard-nsp")

    async def applied() -> dict[str, Any] | bool:
        vs = await controller.one("virtualservice", kuard_vs)
        return vs if points_at(vs.get("network_security_policy_ref"), nsp) else False

    vs = await eventually(applied, timeout=30, what="the HostRule on the dedicated VS")
    assert [(s["port"], s.get("enable_ssl", False)) for s in vs["services"]] == [(8080, False), (8443, True)]
    assert await vip_of(controller, kuard_vs) == "10.10.25.77"
    answer = await routed(controller, vip="10.10.25.77", port=8443, host=KUARD)
    assert answer["vs"] == kuard_vs, answer
    await hostrules.delete("default", "kuard")

    async def restored() -> bool:
        vs = await controller.one("virtualservice", kuard_vs)
        return [s["port"] for s in vs["services"]] == [80, 443] and "network_security_policy_ref" not in vs

    await eventually(restored, timeout=30, what="the dedicated VS back to its own listeners")
    assert akod.stop() == 0
