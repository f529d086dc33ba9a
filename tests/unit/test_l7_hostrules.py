"""The L7 translation with accepted HostRules: the SNI child, a plain host, DEDICATED mode, GSLB FQDN."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from akod.model.hostrule import HostRules, parse_hostrule
from akod.model.l7 import L7Result, translate_l7
from akod.model.objects import name_ref
from tests.unit.test_l7_seed import (
    HACKAZON,
    KUARD,
    SEED,
    SEED_NODES,
    key_of,
    seed_endpoints,
    seed_ingresses,
    seed_services,
    tls_secret,
    valid_pair,
)


def rules(*specs: dict[str, Any]) -> HostRules:
    effects = [parse_hostrule({"name": f"hr{i}", "namespace": "default", "created": f"2026-01-0{i + 1}T00:00:00Z",
                               "spec": {"virtualhost": vh}})[0] for i, vh in enumerate(specs)]
    return HostRules(e for e in effects if e is not None)


def run(host: str, host_rules: HostRules | None, *, ctx: Any = SEED) -> L7Result:
    mine = [i for i in seed_ingresses() if i["rules"][0]["host"] == host]
    return translate_l7(key=key_of(mine[0], ctx), ingresses=mine, services=seed_services(),
                        endpoints=seed_endpoints(), nodes=SEED_NODES,
                        secrets={("default", "kuard-tls"): tls_secret("kuard-tls", valid_pair(KUARD))}, ctx=ctx,
                        keep_shell=False, host_rules=host_rules)


def vs(result: L7Result, name: str) -> dict[str, Any]:
    (found,) = [o.body for o in result.objects if o.obj_type == "virtualservice" and o.name == name]
    return found


def test_a_hostrule_sets_the_sni_childs_refs_and_its_avi_certificate_replaces_the_secrets() -> None:
    child = f"S1-AZ1--{KUARD}"
    plain = run(KUARD, None)
    result = run(KUARD, rules({"fqdn": KUARD, "wafPolicy": "System-WAF-Policy", "applicationProfile": "app",
                               "tls": {"sslKeyCertificate": {"name": "avi-cert", "type": "ref"}}}))
    body = vs(result, child)
    assert body["waf_policy_ref"] == name_ref("wafpolicy", "System-WAF-Policy")
    assert body["application_profile_ref"] == name_ref("applicationprofile", "app")
    assert body["ssl_key_and_certificate_refs"] == [name_ref("sslkeyandcertificate", "avi-cert")]
    assert [o.name for o in result.objects if o.obj_type == "sslkeyandcertificate"] == []
    assert [o.name for o in plain.objects if o.obj_type == "sslkeyandcertificate"] == [child]
    assert result.host_rules[KUARD].name == "hr0"
    # Everything else is what akod makes without the HostRule.
    others = lambda r: {(o.obj_type, o.name): o.checksum for o in r.objects  # noqa: E731
                        if o.obj_type not in ("virtualservice", "sslkeyandcertificate")}
    assert others(result) == others(plain)


def test_a_plain_host_can_be_disabled_and_named_fields_that_cannot_apply_there() -> None:
    assert [o.obj_type for o in run(HACKAZON, None).objects if o.obj_type == "pool"] == ["pool"]
    off = run(HACKAZON, rules({"fqdn": HACKAZON, "enableVirtualHost": False, "wafPolicy": "w"}))
    assert [o.obj_type for o in off.objects if o.obj_type == "pool"] == []
    assert all("waf_policy_ref" not in o.body for o in off.objects)
    (ref,) = off.hostrule_not_applied
    (field,) = off.hostrule_not_applied[ref]
    assert field.startswith("spec.virtualhost.wafPolicy: a plain (non-TLS) host on a shared virtual service")


def test_an_avi_certificate_makes_a_plain_host_a_tls_host_and_gslb_joins_the_dns_info() -> None:
    result = run(HACKAZON, rules({"fqdn": HACKAZON, "gslb": {"fqdn": "hack.gslb.local"},
                                  "tls": {"sslKeyCertificate": {"name": "avi-cert", "type": "ref"}}}))
    child = vs(result, f"S1-AZ1--{HACKAZON}")
    assert child["ssl_key_and_certificate_refs"] == [name_ref("sslkeyandcertificate", "avi-cert")]
    (vsvip,) = [o.body for o in result.objects if o.obj_type == "vsvip"]
    assert sorted(d["fqdn"] for d in vsvip["dns_info"]) == ["hack.gslb.local", HACKAZON]


def test_dedicated_mode_puts_the_effect_on_the_hosts_own_vs() -> None:
    dedicated = replace(SEED, shards=0)
    result = run(KUARD, rules({"fqdn": "kuard", "fqdnType": "Contains", "errorPageProfile": "ep",
                               "httpPolicy": {"policySets": ["extra"]}}), ctx=dedicated)
    (body,) = [o.body for o in result.objects if o.obj_type == "virtualservice"]
    assert body["error_page_profile_ref"] == name_ref("errorpageprofile", "ep")
    assert body["http_policies"][-1]["http_policy_set_ref"] == name_ref("httppolicyset", "extra")


def test_tcp_settings_give_a_dedicated_vs_its_listeners_and_static_vip_and_are_named_elsewhere() -> None:
    dedicated = replace(SEED, shards=0)
    spec = {"fqdn": KUARD, "networkSecurityPolicy": "nsp",
            "tcpSettings": {"listeners": [{"port": 8080}, {"port": 8443, "enableSSL": True}],
                            "loadBalancerIP": "10.10.25.77"}}
    result = run(KUARD, rules(spec), ctx=dedicated)
    (body,) = [o.body for o in result.objects if o.obj_type == "virtualservice"]
    assert body["services"] == [{"port": 8080}, {"port": 8443, "enable_ssl": True}]
    assert body["network_security_policy_ref"] == name_ref("networksecuritypolicy", "nsp")
    (vsvip,) = [o.body for o in result.objects if o.obj_type == "vsvip"]
    assert vsvip["vip"][0]["ip_address"] == {"addr": "10.10.25.77", "type": "V4"}
    assert result.hostrule_not_applied == {}
    # Outside the VIP network: allocated as without it, and said why.
    outside = run(KUARD, rules({**spec, "tcpSettings": {"loadBalancerIP": "192.0.2.1"}}), ctx=dedicated)
    (vsvip,) = [o.body for o in outside.objects if o.obj_type == "vsvip"]
    assert "ip_address" not in vsvip["vip"][0]
    (why,) = next(iter(outside.hostrule_not_applied.values()))
    assert why.startswith("spec.virtualhost.tcpSettings.loadBalancerIP: 192.0.2.1 is outside the VIP network")
    # On an SNI child of a shared VS: nothing of it, and each field named with why.
    shared = run(KUARD, rules(spec))
    assert all("network_security_policy_ref" not in o.body and o.body.get("services") != body["services"]
               for o in shared.objects if o.obj_type == "virtualservice")
    (fields,) = shared.hostrule_not_applied.values()
    assert [f.split(":")[0] for f in fields] == ["spec.virtualhost.networkSecurityPolicy",
                                                  "spec.virtualhost.tcpSettings.listeners",
                                                  "spec.virtualhost.tcpSettings.loadBalancerIP"]
