"""Scenarios 18-23 and 25 of ako-behaviour.md §6.2 at the model level, with AKO's names.

AKO's tests use cluster `cluster`, namespace `default`, hosts foo.com and noo.com (both on shard 0
of LARGE) and EndpointSlices with addresses 1.1.1.x; so do these. Where AKO routes by pool-group
priority labels and a datascript, akod routes by rules of the shard's HTTP policy set: the
assertions on routing are made on those rules.
"""

from __future__ import annotations

import json
from dataclasses import replace

from tests.unit.test_l4_seed import node
from tests.unit.test_l7_seed import (
    AKO,
    backend,
    body,
    ingress,
    names,
    no_key_material,
    objects,
    path,
    pods,
    problems,
    rule,
    rules,
    servers,
    svc_map,
    tls,
    tls_secret,
    translate,
    valid_pair,
)

SHARD0 = "cluster--Shared-L7-0"
AVISVC = svc_map(backend("avisvc", 8080))
AVIPODS = pods("avisvc", 8080, "1.1.1.1")


# -- 18. insecure Ingress -> shared VS ----------------------------------------------------------------------

def test_insecure_ingress_lands_on_shared_vs_zero_in_the_admin_tenant() -> None:
    ing = ingress("foo-ingress", rule("foo.com", path("/foo", "avisvc", 8080)))
    result = translate([ing], services=AVISVC, endpoints=AVIPODS)
    assert result.vs_name == SHARD0
    assert names(result, "virtualservice") == [SHARD0]
    assert {o.tenant for o in result.objects} == {"admin"}
    assert names(result, "pool") == ["cluster--foo.com_foo-default-foo-ingress"]
    assert servers(body(result, "pool", "cluster--foo.com_foo-default-foo-ingress")) == [("1.1.1.1", 8080)]


def test_deleting_the_ingress_removes_pools_and_rules_but_keeps_the_shared_vs() -> None:
    ing = ingress("foo-ingress", rule("foo.com", path("/foo", "avisvc", 8080)))
    key = "l7:" + SHARD0
    kept = translate([], key=key, keep_shell=True)
    assert [(o.obj_type, o.name) for o in kept.objects] == [
        ("vsvip", SHARD0), ("httppolicyset", SHARD0), ("virtualservice", SHARD0)]
    assert rules(kept, SHARD0) == []
    assert "dns_info" not in body(kept, "vsvip", SHARD0)
    shell = {o.obj_type: o.checksum for o in kept.objects if o.obj_type == "virtualservice"}
    before = translate([ing], services=AVISVC, endpoints=AVIPODS)
    assert {o.obj_type: o.checksum for o in before.objects if o.obj_type == "virtualservice"} == shell
    assert translate([], key=key, keep_shell=False).objects == ()


# -- 19. naming with secure and insecure hosts ---------------------------------------------------------------

def test_shard_naming_convention_for_a_tls_host_and_an_insecure_one() -> None:
    ing = ingress("ing", rule("foo.com", path("/foo/bar", "avisvc", 8080)),
                  rule("noo.com", path("/foo/bar", "avisvc", 8080)), tls_=[tls("my-secret", "foo.com")])
    result = translate([ing], services=AVISVC, endpoints=AVIPODS, secrets=[tls_secret("my-secret")])
    assert result.vs_name == SHARD0
    assert names(result, "vsvip") == [SHARD0]
    assert names(result, "virtualservice") == [SHARD0, "cluster--foo.com"]
    assert names(result, "pool") == ["cluster--default-foo.com_foo_bar-ing", "cluster--noo.com_foo_bar-default-ing"]
    assert names(result, "poolgroup") == ["cluster--default-foo.com_foo_bar-ing"]
    assert names(result, "sslkeyandcertificate") == ["cluster--foo.com"]
    assert names(result, "httppolicyset") == [SHARD0, "cluster--default-foo.com"]
    assert result.served[("default", "ing")] == (("foo.com", "cluster--foo.com"), ("noo.com", SHARD0))
    assert body(result, "vsvip", SHARD0)["dns_info"] == [{"fqdn": "foo.com"}, {"fqdn": "noo.com"}]
    no_key_material(result, valid_pair()[1])


# -- 20. several paths -----------------------------------------------------------------------------------------

def test_multi_path_ingress_gets_a_pool_and_a_rule_per_path() -> None:
    ing = ingress("ingress-multipath", rule("foo.com", path("/foo", "avisvc", 8080), path("/bar", "avisvc", 8080)))
    result = translate([ing], services=AVISVC, endpoints=AVIPODS)
    assert names(result, "pool") == ["cluster--foo.com_bar-default-ingress-multipath",
                                     "cluster--foo.com_foo-default-ingress-multipath"]
    routed = {r["match"]["path"]["match_str"][0]: r["switching_action"]["pool_ref"] for r in rules(result, SHARD0)}
    assert routed == {"/foo": "/api/pool/?name=cluster--foo.com_foo-default-ingress-multipath",
                      "/bar": "/api/pool/?name=cluster--foo.com_bar-default-ingress-multipath"}
    pool = body(result, "pool", "cluster--foo.com_foo-default-ingress-multipath")
    assert json.loads(pool["service_metadata"]) == {"ingress_name": "ingress-multipath", "namespace": "default",
                                                    "hostnames": ["foo.com"]}
    assert pool["markers"] == [{"key": "clustername", "values": ["cluster"]},
                               {"key": "Namespace", "values": ["default"]}, {"key": "Host", "values": ["foo.com"]},
                               {"key": "Path", "values": ["/foo"]},
                               {"key": "IngressName", "values": ["ingress-multipath"]},
                               {"key": "ServiceName", "values": ["avisvc"]}]


def test_longest_path_is_evaluated_first_and_exact_before_prefix() -> None:
    ing = ingress("ing", rule("foo.com", path("/", "avisvc", 8080), path("/foo", "avisvc", 8080),
                              path("/foo/bar", "avisvc", 8080), path("/foo", "avisvc", 8080, path_type="Exact")))
    result = translate([ing], services=AVISVC, endpoints=AVIPODS)
    order = [(r["match"]["path"]["match_str"][0], r["match"]["path"]["match_criteria"]) for r in rules(result, SHARD0)]
    assert order == [("/foo/bar", "BEGINS_WITH"), ("/foo", "EQUALS"), ("/foo", "BEGINS_WITH"), ("/", "BEGINS_WITH")]
    assert result.problems == ()


# -- 21. no backend ---------------------------------------------------------------------------------------------

def test_rule_with_host_but_no_backend_creates_nothing() -> None:
    ing = ingress("no-backend", rule("foo.com"))
    result = translate([ing], services=AVISVC)
    assert result.objects == ()
    assert problems(result) == [("no-backend", "spec.rules[0].http", "NoBackend")]
    assert result.served == {("default", "no-backend"): ()}


# -- 22. SNI and redirect ---------------------------------------------------------------------------------------

def sni_ingress() -> dict[str, object]:
    return ingress("foo-with-targets", rule("foo.com", path("/foo", "avisvc", 8080)),
                   rule("noo.com", path("/nootarget", "avisvc", 8080)), tls_=[tls("my-secret", "foo.com")])


def test_tls_host_gets_an_sni_child_and_a_redirect_on_the_parent() -> None:
    result = translate([sni_ingress()], services=AVISVC, endpoints=AVIPODS, secrets=[tls_secret("my-secret")])
    assert names(result, "pool") == ["cluster--default-foo.com_foo-foo-with-targets",
                                     "cluster--noo.com_nootarget-default-foo-with-targets"]
    redirect, noo = rules(result, SHARD0)
    assert redirect["match"]["host_hdr"]["value"] == ["foo.com"]
    assert redirect["match"]["vs_port"] == {"match_criteria": "IS_IN", "ports": [80]}
    assert redirect["redirect_action"] == {"protocol": "HTTPS", "port": 443,
                                           "status_code": "HTTP_REDIRECT_STATUS_CODE_302"}
    assert noo["switching_action"]["pool_ref"].endswith("cluster--noo.com_nootarget-default-foo-with-targets")
    child = body(result, "virtualservice", "cluster--foo.com")
    assert child["vh_domain_name"] == ["foo.com"]
    assert child["type"] == "VS_TYPE_VH_CHILD"
    assert child["ssl_key_and_certificate_refs"] == ["/api/sslkeyandcertificate/?name=cluster--foo.com"]
    assert child["http_policies"] == [{"index": 11, "http_policy_set_ref": "/api/httppolicyset/?name=cluster--default-foo.com"}]
    assert child["application_profile_ref"] == "/api/applicationprofile/?name=System-Secure-HTTP"
    assert "services" not in child and "vsvip_ref" not in child
    assert len(objects(result, "poolgroup")) == 1
    (sni_rule,) = rules(result, "cluster--default-foo.com")
    assert sni_rule["index"] == 0
    assert sni_rule["switching_action"] == {
        "action": "HTTP_SWITCHING_SELECT_POOLGROUP",
        "pool_group_ref": "/api/poolgroup/?name=cluster--default-foo.com_foo-foo-with-targets"}
    assert servers(body(result, "pool", "cluster--default-foo.com_foo-foo-with-targets")) == [("1.1.1.1", 8080)]
    cert = body(result, "sslkeyandcertificate", "cluster--foo.com")
    assert cert["certificate"] == {"certificate": valid_pair()[0]}
    assert "key" not in cert


def test_tls_host_without_its_secret_is_not_served_until_the_secret_exists() -> None:
    missing = translate([sni_ingress()], services=AVISVC, endpoints=AVIPODS)
    assert names(missing, "virtualservice") == [SHARD0]
    assert names(missing, "httppolicyset") == [SHARD0]
    assert [r["match"]["host_hdr"]["value"] for r in rules(missing, SHARD0)] == [["noo.com"]]
    assert problems(missing) == [("foo-with-targets", "spec.tls[0].secretName", "SecretMissing")]
    assert missing.served[("default", "foo-with-targets")] == (("noo.com", SHARD0),)
    created = translate([sni_ingress()], services=AVISVC, endpoints=AVIPODS, secrets=[tls_secret("my-secret")])
    assert names(created, "virtualservice") == [SHARD0, "cluster--foo.com"]
    assert created.problems == ()


# -- 23. SNI policy updates ---------------------------------------------------------------------------------------

def shp(*paths: str) -> list[str]:
    ing = ingress("ingress-shp", rule("foo.com", *[path(p, "avisvc", 8080) for p in paths]),
                  tls_=[tls("my-secret", "foo.com")])
    result = translate([ing], services=AVISVC, endpoints=AVIPODS, secrets=[tls_secret("my-secret")])
    assert names(result, "httppolicyset") == [SHARD0, "cluster--default-foo.com"]
    targets = [r["switching_action"]["pool_group_ref"].split("=")[1] for r in rules(result, "cluster--default-foo.com")]
    assert sorted(targets) == names(result, "poolgroup")
    return targets


def test_sni_policy_set_follows_the_paths_of_the_ingress() -> None:
    assert sorted(shp("/foo", "/bar")) == ["cluster--default-foo.com_bar-ingress-shp",
                                           "cluster--default-foo.com_foo-ingress-shp"]
    assert shp("/foo") == ["cluster--default-foo.com_foo-ingress-shp"]
    assert len(shp("/foo", "/bar", "/baz")) == 3


def test_one_tls_host_in_two_namespaces_has_one_child_with_a_policy_set_per_namespace() -> None:
    red = ingress("a", rule("foo.com", path("/red", "avisvc", 8080)), namespace="red",
                  tls_=[tls("cert", "foo.com")], created="2026-01-01T00:00:00Z")
    blue = ingress("b", rule("foo.com", path("/blue", "avisvc", 8080)), namespace="blue",
                   tls_=[tls("cert", "foo.com")], created="2026-01-02T00:00:00Z")
    services = svc_map(backend("avisvc", 8080, namespace="red"), backend("avisvc", 8080, namespace="blue"))
    result = translate([red, blue], services=services,
                       secrets=[tls_secret("cert", namespace="red"), tls_secret("cert", namespace="blue")])
    assert names(result, "virtualservice") == [SHARD0, "cluster--foo.com"]
    child = body(result, "virtualservice", "cluster--foo.com")
    assert [p["http_policy_set_ref"].split("=")[1] for p in child["http_policies"]] == [
        "cluster--blue-foo.com", "cluster--red-foo.com"]
    assert [p["index"] for p in child["http_policies"]] == [11, 12]
    assert json.loads(child["service_metadata"])["namespace_ingress_name"] == ["blue/b", "red/a"]
    assert result.served == {("red", "a"): (("foo.com", "cluster--foo.com"),),
                             ("blue", "b"): (("foo.com", "cluster--foo.com"),)}


# -- 25. NodePort backends ---------------------------------------------------------------------------------------

def test_nodeport_backend_pool_has_the_node_on_the_node_port_and_its_placement_network() -> None:
    ctx = replace(AKO, l4=replace(AKO.l4, service_type="NodePort", node_networks=(("net123", ("10.1.1.0/24",)),)))
    ing = ingress("foo-ingress", rule("foo.com", path("/foo", "avisvc", 8080)))
    services = svc_map(backend("avisvc", 8080, type_="NodePort", node_port=31030))
    result = translate([ing], services=services, endpoints=AVIPODS, nodes=[node("testNodeNP", "10.1.1.2")], ctx=ctx)
    pool = body(result, "pool", "cluster--foo.com_foo-default-foo-ingress")
    assert servers(pool) == [("10.1.1.2", 31030)]
    assert pool["placement_networks"][0]["network_ref"] == "/api/network/?name=net123"
    assert result.problems == ()


def test_nodeport_mode_with_a_clusterip_backend_gives_an_empty_pool_and_says_why() -> None:
    ctx = replace(AKO, l4=replace(AKO.l4, service_type="NodePort"))
    ing = ingress("foo-ingress", rule("foo.com", path("/foo", "avisvc", 8080)))
    result = translate([ing], services=AVISVC, endpoints=AVIPODS, nodes=[node("n1", "10.1.1.2")], ctx=ctx)
    assert servers(body(result, "pool", "cluster--foo.com_foo-default-foo-ingress")) == []
    assert problems(result) == [("foo-ingress", "spec.rules[0].http.paths[0].backend.service.name", "NoNodePort")]


def test_backend_port_by_name_uses_the_target_port_of_the_endpoints() -> None:
    ing = ingress("named", rule("foo.com", path("/", "web", name="http")))
    services = svc_map(backend("web", 80, port_name="http", target="web-port"))
    result = translate([ing], services=services, endpoints=pods("web", 8080, "1.1.1.7", name="http"))
    assert servers(body(result, "pool", "cluster--foo.com_-default-named")) == [("1.1.1.7", 8080)]
