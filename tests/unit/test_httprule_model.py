"""HTTPRule, pure: a spec read into an effect and a verdict, target matching, conflicts, the pools it changes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from akod.model.httprule import PKI_AND_CA, HTTPRules, conflicts, parse_httprule
from akod.model.l7 import L7Result, translate_l7
from akod.model.objects import AviObject, name_ref, stored_checksum
from tests.unit.test_l7_seed import (
    KUARD,
    SEED,
    SEED_NODES,
    backend,
    ingress,
    key_of,
    path,
    pods,
    rule,
    svc_map,
    tls,
    tls_secret,
    valid_pair,
)

HOST = "shop.avi.iberia.local"


def body(name: str, spec: dict[str, Any], *, created: str = "2026-01-01T00:00:00Z",
         ns: str = "default") -> dict[str, Any]:
    return {"name": name, "namespace": ns, "uid": f"uid-{name}", "created": created, "spec": spec,
            "status": {"status": "", "error": ""}}


def ca_pem() -> str:
    return valid_pair("backend-ca")[0]


def accepted(*specs: dict[str, Any], ns: str = "default") -> HTTPRules:
    effects = [parse_httprule(body(f"rr{i}", s, created=f"2026-01-0{i + 1}T00:00:00Z", ns=ns))[0]
               for i, s in enumerate(specs)]
    assert all(e is not None for e in effects)
    return HTTPRules(e for e in effects if e is not None)


def test_a_full_spec_becomes_its_effect_and_names_every_avi_object_to_check() -> None:
    effect, verdict = parse_httprule(body("rr", {"fqdn": HOST, "paths": [
        {"target": "/", "loadBalancerPolicy": {"algorithm": "LB_ALGORITHM_CONSISTENT_HASH",
                                               "hash": "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER",
                                               "hostHeader": "X-User"},
         "applicationPersistence": "System-Persistence-Client-IP", "enableHTTP2": True},
        {"target": "/api", "healthMonitors": ["System-HTTP", "hm2"],
         "tls": {"type": "reencrypt", "sslProfile": "System-Standard-PFS", "pkiProfile": "System-PKI-Profile"}}]}))
    assert verdict.valid and verdict.unsupported == () and verdict.notes == ()
    assert effect is not None and [p.target for p in effect.paths] == ["/", "/api"]
    assert {(r.field, r.obj_type, r.name) for r in verdict.refs} == {
        ("spec.paths[0].applicationPersistence", "applicationpersistenceprofile", "System-Persistence-Client-IP"),
        ("spec.paths[1].healthMonitors[0]", "healthmonitor", "System-HTTP"),
        ("spec.paths[1].healthMonitors[1]", "healthmonitor", "hm2"),
        ("spec.paths[1].tls.sslProfile", "sslprofile", "System-Standard-PFS"),
        ("spec.paths[1].tls.pkiProfile", "pkiprofile", "System-PKI-Profile"),
    }


def test_invalid_fields_reject_the_httprule_naming_each_field() -> None:
    cases = [
        ({"paths": [{"target": "/"}]}, "spec.fqdn"),
        ({"fqdn": HOST, "paths": [{"target": "api"}]}, "spec.paths[0].target"),
        ({"fqdn": HOST, "paths": [{"target": "/", "loadBalancerPolicy": {"algorithm": "LB_ALGORITHM_MAGIC"}}]},
         "spec.paths[0].loadBalancerPolicy.algorithm"),
        ({"fqdn": HOST, "paths": [{"target": "/", "loadBalancerPolicy": {
            "algorithm": "LB_ALGORITHM_CONSISTENT_HASH", "hash": "LB_ALGORITHM_CONSISTENT_HASH_NOPE"}}]},
         "spec.paths[0].loadBalancerPolicy.hash"),
        ({"fqdn": HOST, "paths": [{"target": "/", "loadBalancerPolicy": {
            "algorithm": "LB_ALGORITHM_CONSISTENT_HASH", "hash": "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER"}}]},
         "spec.paths[0].loadBalancerPolicy.hostHeader"),
        ({"fqdn": HOST, "paths": [{"target": "/", "tls": {"type": "passthrough"}}]}, "spec.paths[0].tls.type"),
        ({"fqdn": HOST, "paths": [{"target": "/", "tls": {"type": "reencrypt", "pkiProfile": "p",
                                                          "destinationCA": ca_pem()}}]}, "spec.paths[0].tls"),
        ({"fqdn": HOST, "paths": [{"target": "/", "tls": {"type": "reencrypt", "destinationCA": "not a cert"}}]},
         "spec.paths[0].tls.destinationCA"),
        ({"fqdn": HOST, "paths": [{"target": "/", "healthMonitors": "System-HTTP"}]}, "spec.paths[0].healthMonitors"),
        ({"fqdn": HOST, "paths": [{"target": "/", "enableHTTP2": "yes"}]}, "spec.paths[0].enableHTTP2"),
        ({"fqdn": HOST, "paths": [{"target": "/a"}, {"target": "/a"}]}, "spec.paths[1].target"),
    ]
    for spec, field in cases:
        effect, verdict = parse_httprule(body("rr", spec))
        assert effect is None and not verdict.valid, spec
        assert [p.field for p in verdict.problems] == [field], (spec, verdict.problems)
        assert all(p.obj.kind == "HTTPRule" and p.obj.name == "rr" for p in verdict.problems)
    _, verdict = parse_httprule(body("rr", {"fqdn": HOST, "paths": [
        {"target": "/", "tls": {"type": "reencrypt", "pkiProfile": "p", "destinationCA": ca_pem()}}]}))
    assert verdict.problems[0].message == PKI_AND_CA  # AKO's own words


def test_a_hash_without_the_consistent_hash_algorithm_is_accepted_and_named_as_not_applied() -> None:
    effect, verdict = parse_httprule(body("rr", {"fqdn": HOST, "paths": [
        {"target": "/", "loadBalancerPolicy": {"algorithm": "LB_ALGORITHM_ROUND_ROBIN",
                                               "hash": "LB_ALGORITHM_CONSISTENT_HASH_URI", "hostHeader": "h"}}]}))
    assert verdict.valid and effect is not None and effect.paths[0].hash == ""
    assert [n.split(" ")[0] for n in verdict.notes] == ["spec.paths[0].loadBalancerPolicy.hash",
                                                         "spec.paths[0].loadBalancerPolicy.hostHeader"]


def test_targets_cover_paths_by_prefix_in_their_own_namespace_and_the_more_specific_wins() -> None:
    rules = accepted({"fqdn": HOST, "paths": [
        {"target": "/", "loadBalancerPolicy": {"algorithm": "LB_ALGORITHM_CONSISTENT_HASH"},
         "healthMonitors": ["hm-root"], "applicationPersistence": "pers"},
        {"target": "/api", "loadBalancerPolicy": {"algorithm": "LB_ALGORITHM_FEWEST_SERVERS"},
         "healthMonitors": ["hm-api"]}]})
    root = rules.for_pool(namespace="default", host=HOST, path="/")
    api = rules.for_pool(namespace="default", host=HOST.upper(), path="/api/v1")
    assert (root.algorithm, root.health_monitors, root.persistence) == ("LB_ALGORITHM_CONSISTENT_HASH", ("hm-root",),
                                                                         "pers")
    assert (api.algorithm, api.health_monitors, api.persistence) == ("LB_ALGORITHM_FEWEST_SERVERS",
                                                                     ("hm-root", "hm-api"), "pers")
    assert not rules.for_pool(namespace="other", host=HOST, path="/api")
    assert not rules.for_pool(namespace="default", host="else.avi.iberia.local", path="/api")
    only_api = accepted({"fqdn": HOST, "paths": [{"target": "/api", "healthMonitors": ["hm"]}]})
    assert not only_api.for_pool(namespace="default", host=HOST, path="/")
    assert only_api.for_pool(namespace="default", host=HOST, path="/apiv2")  # a string prefix, as AKO


def test_the_older_httprule_keeps_a_host_and_target_of_its_namespace() -> None:
    old = body("old", {"fqdn": HOST, "paths": [{"target": "/"}]}, created="2026-01-01T00:00:00Z")
    new = body("new", {"fqdn": HOST, "paths": [{"target": "/x"}, {"target": "/"}]}, created="2026-01-02T00:00:00Z")
    elsewhere = body("new", {"fqdn": HOST, "paths": [{"target": "/"}]}, created="2026-01-03T00:00:00Z", ns="other")
    lost = conflicts([new, elsewhere, old])
    (ref,) = lost
    assert (ref.namespace, ref.name) == ("default", "new")
    assert [(p.field, p.reason) for p in lost[ref]] == [("spec.paths[1].target", "DuplicateTarget")]
    assert "older HTTPRule default/old" in lost[ref][0].message


# -- applied to the L7 translation -------------------------------------------------------------------------


def shop(*, secure: bool = False) -> list[dict[str, Any]]:
    return [ingress("shop", rule(HOST, path("/", "web", 80), path("/api", "api", 8080)),
                    tls_=[tls("shop-tls", HOST)] if secure else None),
            ingress("kuard", rule(KUARD, path("/", "web", 80)))]


def run(rules: HTTPRules | None, *, secure: bool = False, host: str = HOST, ctx: Any = SEED) -> L7Result:
    ings = shop(secure=secure)
    mine = [i for i in ings if i["rules"][0]["host"] == host]
    return translate_l7(key=key_of(mine[0], ctx), ingresses=mine,
                        services=svc_map(backend("web", 80), backend("api", 8080)),
                        endpoints={**pods("web", 80, "10.34.1.5"), **pods("api", 8080, "10.34.2.7")},
                        nodes=SEED_NODES, secrets={("default", "shop-tls"): tls_secret("shop-tls", valid_pair(HOST))},
                        ctx=ctx, keep_shell=False, http_rules=rules)


def pools(result: L7Result) -> dict[str, dict[str, Any]]:
    return {o.name: o.body for o in result.objects if o.obj_type == "pool"}


ACCEPTANCE = {"fqdn": HOST, "paths": [
    {"target": "/", "loadBalancerPolicy": {"algorithm": "LB_ALGORITHM_CONSISTENT_HASH",
                                           "hash": "LB_ALGORITHM_CONSISTENT_HASH_SOURCE_IP_ADDRESS"}},
    {"target": "/api", "healthMonitors": ["System-HTTP"]}]}


def test_consistent_hash_on_root_and_a_monitor_on_api_reach_the_right_pools_of_a_plain_host() -> None:
    plain = pools(run(None))
    result = run(accepted(ACCEPTANCE))
    got = pools(result)
    root, api = f"S1-AZ1--{HOST}_-default-shop", f"S1-AZ1--{HOST}_api-default-shop"
    assert set(got) == {root, api} == set(plain)
    assert got[root]["lb_algorithm"] == got[api]["lb_algorithm"] == "LB_ALGORITHM_CONSISTENT_HASH"
    assert got[root]["lb_algorithm_hash"] == "LB_ALGORITHM_CONSISTENT_HASH_SOURCE_IP_ADDRESS"
    assert "health_monitor_refs" not in got[root]
    assert got[api]["health_monitor_refs"] == [name_ref("healthmonitor", "System-HTTP")]
    assert all("lb_algorithm" not in b and "health_monitor_refs" not in b for b in plain.values())
    # Only the pools change; the other host (another key) is not given the rule at all.
    others = lambda r: {(o.obj_type, o.name): o.checksum for o in r.objects if o.obj_type != "pool"}  # noqa: E731
    assert others(result) == others(run(None))
    assert [(h, [r.name for r in refs]) for h, refs in result.http_rules.items()] == [(HOST, ["rr0"])]
    kuard = run(accepted(ACCEPTANCE), host=KUARD)
    assert all("lb_algorithm" not in b for b in pools(kuard).values()) and kuard.http_rules == {}


def test_reencrypt_with_a_destination_ca_makes_an_owned_pki_profile_written_before_the_pool() -> None:
    rules = accepted({"fqdn": HOST, "paths": [{"target": "/api", "enableHTTP2": True,
                                               "tls": {"type": "reencrypt", "destinationCA": ca_pem()}}]})
    for ctx, secure in ((SEED, True), (SEED, False)):
        result = run(rules, secure=secure, ctx=ctx)
        api = next(n for n in pools(result) if "_api-" in n)
        pki: list[AviObject] = [o for o in result.objects if o.obj_type == "pkiprofile"]
        assert [o.name for o in pki] == [f"{api}-pkiprofile"]
        assert pki[0].body["ca_certs"] == [{"certificate": ca_pem().strip() + "\n"}]
        assert pki[0].body["crl_check"] is False and pki[0].body["created_by"] == "ako-S1-AZ1"
        body_ = pools(result)[api]
        assert body_["pki_profile_ref"] == name_ref("pkiprofile", pki[0].name)
        assert body_["ssl_profile_ref"] == name_ref("sslprofile", "System-Standard")
        assert body_["sni_enabled"] is True and body_["enable_http2"] is True
        order = [(o.obj_type, o.name) for o in result.objects]
        assert order.index(("pkiprofile", pki[0].name)) < order.index(("pool", api))
        root = next(n for n in pools(result) if "_api-" not in n)
        assert "pki_profile_ref" not in pools(result)[root] and pools(result)[root]["sni_enabled"] is False
    # An Avi PKI profile by name: no profile of akod's.
    named = accepted({"fqdn": HOST, "paths": [{"target": "/", "tls": {"type": "reencrypt",
                                                                      "pkiProfile": "System-PKI-Profile"}}]})
    result = run(named)
    assert [o for o in result.objects if o.obj_type == "pkiprofile"] == []
    assert all(b["pki_profile_ref"] == name_ref("pkiprofile", "System-PKI-Profile") for b in pools(result).values())


def test_dedicated_mode_gives_the_rule_to_the_hosts_own_pools() -> None:
    dedicated = replace(SEED, shards=0)
    got = pools(run(accepted(ACCEPTANCE), ctx=dedicated))
    assert len(got) == 2
    api = next(b for n, b in got.items() if "_api-" in n)
    root = next(b for n, b in got.items() if "_api-" not in n)
    assert api["health_monitor_refs"] == [name_ref("healthmonitor", "System-HTTP")]
    assert root["lb_algorithm"] == "LB_ALGORITHM_CONSISTENT_HASH" and "health_monitor_refs" not in root


def test_pki_profile_checksum_is_its_content_as_the_controller_returns_it() -> None:
    result = run(accepted({"fqdn": HOST, "paths": [{"target": "/", "tls": {"type": "reencrypt",
                                                                           "destinationCA": ca_pem()}}]}))
    pki = next(o for o in result.objects if o.obj_type == "pkiprofile")  # one per pool under `/`
    returned = {**pki.body, "uuid": "pkiprofile-1", "ca_certs": [{"certificate": "  " + ca_pem().strip() + "\n\n"}]}
    assert stored_checksum("pkiprofile", returned) == pki.checksum
    assert "cloud_config_cksum" not in pki.payload()


def test_a_hostrule_of_the_same_host_is_independent_of_the_httprule() -> None:
    from akod.model.hostrule import HostRules, parse_hostrule
    hostrule, _ = parse_hostrule({"name": "hr", "namespace": "default", "created": "2026-01-01T00:00:00Z",
                                  "spec": {"virtualhost": {"fqdn": HOST, "wafPolicy": "System-WAF-Policy"}}})
    assert hostrule is not None
    ings = shop(secure=True)
    args: dict[str, Any] = dict(key=key_of(ings[0], SEED), ingresses=ings[:1],
                                services=svc_map(backend("web", 80), backend("api", 8080)),
                                endpoints={**pods("web", 80, "10.34.1.5"), **pods("api", 8080, "10.34.2.7")},
                                nodes=SEED_NODES, secrets={("default", "shop-tls"): tls_secret("shop-tls",
                                                                                               valid_pair(HOST))},
                                ctx=SEED, keep_shell=False)
    both = translate_l7(**args, host_rules=HostRules([hostrule]), http_rules=accepted(ACCEPTANCE))
    only_http = translate_l7(**args, http_rules=accepted(ACCEPTANCE))
    only_host = translate_l7(**args, host_rules=HostRules([hostrule]))
    by = lambda r, t: {o.name: o.checksum for o in r.objects if o.obj_type == t}  # noqa: E731
    assert by(both, "pool") == by(only_http, "pool") != by(only_host, "pool")
    assert by(both, "virtualservice") == by(only_host, "virtualservice") != by(only_http, "virtualservice")


def test_a_pki_profile_name_over_the_limit_leaves_only_that_path_unserved_naming_it() -> None:
    from akod.model.l4names import MAX_NAME_LENGTH
    base = len(f"S1-AZ1--{HOST}_-default-shop")
    long_path = "/" + "a" * (MAX_NAME_LENGTH - 5 - base)  # the pool fits, `<pool>-pkiprofile` does not
    ing = ingress("shop", rule(HOST, path("/", "web", 80), path(long_path, "api", 8080)))
    rules = accepted({"fqdn": HOST, "paths": [{"target": "/a", "tls": {"type": "reencrypt",
                                                                       "destinationCA": ca_pem()}}]})
    result = translate_l7(key=key_of(ing, SEED), ingresses=[ing],
                          services=svc_map(backend("web", 80), backend("api", 8080)),
                          endpoints={**pods("web", 80, "10.34.1.5"), **pods("api", 8080, "10.34.2.7")},
                          nodes=SEED_NODES, secrets={}, ctx=SEED, keep_shell=False, http_rules=rules)
    assert [n for n in pools(result)] == [f"S1-AZ1--{HOST}_-default-shop"]
    assert [(p.reason, p.field) for p in result.problems] == [("NameTooLong", "spec.rules[0].http.paths[1].path")]
    pool = f"S1-AZ1--{HOST}_{long_path[1:]}-default-shop"
    assert f"has {len(pool + '-pkiprofile')} characters" in result.problems[0].message
