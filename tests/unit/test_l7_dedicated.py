"""DEDICATED mode (`shard_vs_size = DEDICATED`): one virtual service per host, reference §3.2."""

from __future__ import annotations

from dataclasses import replace

from tests.unit.test_l7_seed import (
    AKO,
    backend,
    body,
    ingress,
    names,
    no_key_material,
    path,
    pods,
    rule,
    rules,
    servers,
    svc_map,
    tls,
    tls_secret,
    translate,
    valid_pair,
)

DEDICATED = replace(AKO, shards=0)
VS = "cluster--foo.com-L7-dedicated"
WEB = svc_map(backend("web", 80))
PODS = pods("web", 80, "1.1.1.1")


def test_insecure_host_gets_its_own_vs_vip_policy_set_and_pools() -> None:
    ing = ingress("ing", rule("foo.com", path("/", "web", 80), path("/api", "web", 80)),
                  rule("noo.com", path("/", "web", 80)))
    result = translate([ing], services=WEB, endpoints=PODS, ctx=DEDICATED, host="foo.com")
    assert result.vs_name == VS
    assert [(o.obj_type, o.name) for o in result.objects] == [
        ("vsvip", VS),
        ("pool", "cluster--default-foo.com_-ing-L7-dedicated"),
        ("pool", "cluster--default-foo.com_api-ing-L7-dedicated"),
        ("httppolicyset", VS),
        ("virtualservice", VS),
    ]
    vs = body(result, "virtualservice", VS)
    assert vs["type"] == "VS_TYPE_NORMAL"
    assert vs["services"] == [{"port": 80}]
    assert vs["application_profile_ref"] == "/api/applicationprofile/?name=System-HTTP"
    assert vs["vsvip_ref"] == f"/api/vsvip/?name={VS}"
    assert "ssl_key_and_certificate_refs" not in vs
    assert [(r["index"], r["match"]["path"]["match_str"]) for r in rules(result, VS)] == [(0, ["/api"]), (1, ["/"])]
    assert body(result, "vsvip", VS)["dns_info"] == [{"fqdn": "foo.com"}]
    assert servers(body(result, "pool", "cluster--default-foo.com_-ing-L7-dedicated")) == [("1.1.1.1", 80)]
    assert result.served == {("default", "ing"): (("foo.com", VS),)}


def test_tls_host_has_the_certificate_on_its_vs_and_redirects_port_80() -> None:
    ing = ingress("ing", rule("foo.com", path("/", "web", 80)), tls_=[tls("foo-tls", "foo.com")])
    result = translate([ing], services=WEB, endpoints=PODS, secrets=[tls_secret("foo-tls")], ctx=DEDICATED)
    assert names(result, "sslkeyandcertificate") == ["cluster--foo.com"]
    vs = body(result, "virtualservice", VS)
    assert vs["services"] == [{"port": 80}, {"port": 443, "enable_ssl": True}]
    assert vs["application_profile_ref"] == "/api/applicationprofile/?name=System-Secure-HTTP"
    assert vs["ssl_key_and_certificate_refs"] == ["/api/sslkeyandcertificate/?name=cluster--foo.com"]
    redirect, route = rules(result, VS)
    assert (redirect["index"], redirect["redirect_action"]["port"]) == (0, 443)
    assert route["index"] == 1 and route["switching_action"]["action"] == "HTTP_SWITCHING_SELECT_POOL"
    assert names(result, "virtualservice") == [VS]
    no_key_material(result, valid_pair()[1])


def test_host_gone_removes_the_dedicated_vs_unless_its_shell_is_kept() -> None:
    key = "l7:" + VS
    assert translate([], key=key, ctx=DEDICATED).objects == ()
    kept = translate([], key=key, ctx=DEDICATED, keep_shell=True)
    assert [(o.obj_type, o.name) for o in kept.objects] == [("vsvip", VS), ("httppolicyset", VS),
                                                           ("virtualservice", VS)]
    assert rules(kept, VS) == []
