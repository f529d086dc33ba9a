"""HostRule, pure: a spec read into an effect and a verdict, conflicts by age, matching, application."""

from __future__ import annotations

from typing import Any

from akod.model.crs import ACCEPTED, REJECTED, status_of
from akod.model.hostrule import HostRules, conflict, parse_hostrule, winners
from akod.model.hostrule_apply import apply_to_vs, dns_names, not_on_sni_child, with_aliases
from akod.model.objects import AviObject, name_ref
from akod.model.problems import ObjectRef


def body(name: str, vh: dict[str, Any], *, created: str = "2026-01-01T00:00:00Z", ns: str = "default") -> dict[str, Any]:
    return {"name": name, "namespace": ns, "uid": f"uid-{name}", "created": created, "spec": {"virtualhost": vh},
            "status": {"status": "", "error": ""}}


def test_a_full_spec_becomes_its_effect_and_names_every_avi_object_to_check() -> None:
    effect, verdict = parse_hostrule(body("kuard", {
        "fqdn": "kuard.avi.iberia.local", "enableVirtualHost": True,
        "tls": {"sslKeyCertificate": {"name": "cert-a", "type": "ref",
                                      "alternateCertificate": {"name": "cert-b", "type": "ref"}},
                "sslProfile": "System-Standard"},
        "wafPolicy": "System-WAF-Policy", "applicationProfile": "app", "analyticsProfile": "an",
        "errorPageProfile": "ep", "icapProfile": ["icap"], "httpPolicy": {"policySets": ["ps1", "ps2"]},
        "datascripts": ["ds"], "gslb": {"fqdn": "kuard.gslb.local"}}))
    assert verdict.valid and verdict.unsupported == ()
    assert effect is not None and effect.certificates == ("cert-a", "cert-b")
    assert {(r.field, r.obj_type, r.name) for r in verdict.refs} == {
        ("spec.virtualhost.wafPolicy", "wafpolicy", "System-WAF-Policy"),
        ("spec.virtualhost.applicationProfile", "applicationprofile", "app"),
        ("spec.virtualhost.analyticsProfile", "analyticsprofile", "an"),
        ("spec.virtualhost.errorPageProfile", "errorpageprofile", "ep"),
        ("spec.virtualhost.tls.sslKeyCertificate.name", "sslkeyandcertificate", "cert-a"),
        ("spec.virtualhost.tls.sslKeyCertificate.alternateCertificate.name", "sslkeyandcertificate", "cert-b"),
        ("spec.virtualhost.tls.sslProfile", "sslprofile", "System-Standard"),
        ("spec.virtualhost.icapProfile[0]", "icapprofile", "icap"),
        ("spec.virtualhost.httpPolicy.policySets[0]", "httppolicyset", "ps1"),
        ("spec.virtualhost.httpPolicy.policySets[1]", "httppolicyset", "ps2"),
        ("spec.virtualhost.datascripts[0]", "vsdatascriptset", "ds"),
    }


def test_an_unknown_fqdn_type_rejects_the_hostrule_naming_the_field() -> None:
    effect, verdict = parse_hostrule(body("x", {"fqdn": "a.b", "fqdnType": "Regex"}))
    assert effect is None
    (problem,) = verdict.problems
    assert problem.field == "spec.virtualhost.fqdnType" and "Exact, Wildcard, Contains" in problem.message
    assert status_of(verdict.problems) == {"status": REJECTED,
                                           "error": f"spec.virtualhost.fqdnType: {problem.message}"}


def test_invalid_fields_are_each_named() -> None:
    _, verdict = parse_hostrule(body("x", {
        "fqdn": "", "enableVirtualHost": "yes", "icapProfile": ["a", "b"], "gslb": {"fqdn": ""},
        "tls": {"sslKeyCertificate": {"name": "c", "type": "file"}},
        "tcpSettings": {"loadBalancerIP": "10.10.25.300"}}))
    fields = {p.field for p in verdict.problems}
    assert fields == {"spec.virtualhost.fqdn", "spec.virtualhost.enableVirtualHost", "spec.virtualhost.icapProfile",
                      "spec.virtualhost.tls.sslKeyCertificate.type", "spec.virtualhost.tcpSettings.loadBalancerIP"}


def test_fields_akod_does_not_apply_are_accepted_and_named() -> None:
    effect, verdict = parse_hostrule(body("x", {
        "fqdn": "a.b", "aliases": ["c.d"], "tcpSettings": {"listeners": [{"port": 8443, "enableSSL": True}]},
        "tls": {"sslKeyCertificate": {"name": "s", "type": "secret",
                                      "alternateCertificate": {"name": "s2", "type": "secret"}}}, "useRegex": True}))
    assert effect is not None and verdict.valid and effect.secret_certificate == "s"
    assert set(verdict.unsupported) == {"spec.virtualhost.useRegex",
                                        "spec.virtualhost.tls.sslKeyCertificate.alternateCertificate.type: secret"}


def test_the_older_hostrule_keeps_an_fqdn_by_creation_time_then_namespace_and_name() -> None:
    old = body("zz-old", {"fqdn": "Kuard.b"}, created="2026-01-01T00:00:00Z")
    new = body("aa-new", {"fqdn": "kuard.b"}, created="2026-02-01T00:00:00Z")
    tie_a = body("a", {"fqdn": "same.b"}, created="2026-03-01T00:00:00Z")
    tie_b = body("b", {"fqdn": "same.b"}, created="2026-03-01T00:00:00Z")
    lost = winners([new, tie_b, old, tie_a])
    ref = lambda n: ObjectRef(kind="HostRule", namespace="default", name=n)  # noqa: E731
    assert lost == {ref("aa-new"): (ref("zz-old"), "kuard.b"), ref("b"): (ref("a"), "same.b")}
    assert conflict(obj=ref("aa-new"), holder=ref("zz-old"), fqdn="kuard.b").field == "spec.virtualhost.fqdn"


def test_exact_beats_wildcard_and_contains_the_oldest_pattern_wins() -> None:
    effects = [parse_hostrule(b)[0] for b in (
        body("contains", {"fqdn": "iberia", "fqdnType": "Contains"}, created="2026-01-01T00:00:00Z"),
        body("wild", {"fqdn": "*.avi.iberia.local", "fqdnType": "Wildcard"}, created="2026-01-02T00:00:00Z"),
        body("exact", {"fqdn": "kuard.avi.iberia.local"}, created="2026-01-03T00:00:00Z"))]
    rules = HostRules(e for e in effects if e is not None)
    assert rules.for_host("kuard.avi.iberia.local").ref.name == "exact"  # type: ignore[union-attr]
    assert rules.for_host("hackazon.avi.iberia.local").ref.name == "contains"  # type: ignore[union-attr]
    assert rules.for_host("other.example.com") is None
    wild = effects[1]
    assert wild is not None and wild.matches("a.avi.iberia.local") and not wild.matches("avi.iberia.local")


def _child() -> AviObject:
    return AviObject("virtualservice", "admin", "c--h", {
        "name": "c--h", "ssl_key_and_certificate_refs": [name_ref("sslkeyandcertificate", "c--h")],
        "application_profile_ref": name_ref("applicationprofile", "System-Secure-HTTP"),
        "http_policies": [{"index": 11, "http_policy_set_ref": name_ref("httppolicyset", "own")}]})


def test_applying_an_effect_sets_the_refs_and_appends_or_overwrites_policy_sets() -> None:
    effect = parse_hostrule(body("h", {"fqdn": "h", "enableVirtualHost": False, "wafPolicy": "w",
                                        "tls": {"sslKeyCertificate": {"name": "avi-cert", "type": "ref"}},
                                        "httpPolicy": {"policySets": ["ps"]}, "datascripts": ["ds"],
                                        "icapProfile": ["icap"]}))[0]
    out = apply_to_vs(_child(), effect).body
    assert out["enabled"] is False and out["waf_policy_ref"] == name_ref("wafpolicy", "w")
    assert out["ssl_key_and_certificate_refs"] == [name_ref("sslkeyandcertificate", "avi-cert")]
    assert [p["index"] for p in out["http_policies"]] == [11, 12]
    assert out["vs_datascripts"] == [{"index": 0, "vs_datascript_set_ref": name_ref("vsdatascriptset", "ds")}]
    assert out["icap_request_profile_refs"] == [name_ref("icapprofile", "icap")]
    overwrite = parse_hostrule(body("h", {"fqdn": "h", "httpPolicy": {"policySets": ["ps"], "overwrite": True}}))[0]
    assert [p["http_policy_set_ref"] for p in apply_to_vs(_child(), overwrite).body["http_policies"]] == [
        name_ref("httppolicyset", "ps")]
    assert apply_to_vs(_child(), None).body == _child().body
    assert _child().checksum != apply_to_vs(_child(), effect).checksum


def test_the_gslb_fqdn_joins_the_vsvip_dns_names() -> None:
    effect = parse_hostrule(body("h", {"fqdn": "h.b", "gslb": {"fqdn": "h.gslb"}}))[0]
    assert effect is not None
    assert dns_names(["h.b", "a.b"], [effect]) == ["a.b", "h.b", "h.gslb"]
    assert status_of(()) == {"status": ACCEPTED, "error": ""}
    assert status_of(parse_hostrule(body("x", {"fqdn": "a", "fqdnType": "X"}))[1].problems,
                     kept=True)["error"].endswith("the last accepted spec stays applied")


def test_analytics_policy_becomes_the_vs_analytics_policy_as_ako_builds_it() -> None:
    effect = parse_hostrule(body("h", {"fqdn": "h", "analyticsPolicy": {
        "fullClientLogs": {"enabled": True, "throttle": "LOW"}, "logAllHeaders": True}}))[0]
    assert effect is not None
    out = apply_to_vs(_child(), effect).body
    # AKO's lib.GetThrottle: LOW = 50; no duration given = 0 (for ever).
    assert out["analytics_policy"] == {"full_client_logs": {"enabled": True, "duration": 0, "throttle": 50},
                                       "all_headers": True}
    defaults = parse_hostrule(body("h", {"fqdn": "h", "analyticsPolicy": {}}))[0]
    assert defaults is not None
    assert apply_to_vs(_child(), defaults).body["analytics_policy"] == {
        "full_client_logs": {"enabled": False, "duration": 0, "throttle": 10}, "all_headers": False}
    _, verdict = parse_hostrule(body("h", {"fqdn": "h", "analyticsPolicy": {
        "fullClientLogs": {"enabled": "yes", "throttle": "SOMETIMES", "duration": -1}}}))
    assert {p.field for p in verdict.problems} == {
        "spec.virtualhost.analyticsPolicy.fullClientLogs.enabled",
        "spec.virtualhost.analyticsPolicy.fullClientLogs.throttle",
        "spec.virtualhost.analyticsPolicy.fullClientLogs.duration"}


def test_a_network_security_policy_is_checked_and_applies_to_a_dedicated_vs_only() -> None:
    effect, verdict = parse_hostrule(body("h", {"fqdn": "h", "networkSecurityPolicy": "nsp"}))
    assert effect is not None and verdict.unsupported == ()
    assert [(r.field, r.obj_type) for r in verdict.refs] == [
        ("spec.virtualhost.networkSecurityPolicy", "networksecuritypolicy")]
    assert "network_security_policy_ref" not in apply_to_vs(_child(), effect).body
    assert apply_to_vs(_child(), effect, dedicated=True).body["network_security_policy_ref"] == name_ref(
        "networksecuritypolicy", "nsp")
    assert not_on_sni_child(effect) == [
        "spec.virtualhost.networkSecurityPolicy: an SNI child shares its parent's listener (use DEDICATED mode)"]


def test_aliases_are_checked_as_ako_does_and_claimed_like_the_fqdn() -> None:
    effect, verdict = parse_hostrule(body("h", {"fqdn": "h.b", "aliases": ["A.b", "c.b"]}))
    assert effect is not None and verdict.unsupported == () and effect.aliases == ("a.b", "c.b")
    for vh, message in (({"fqdn": "*.b", "fqdnType": "Wildcard", "aliases": ["a.b"]}, "only when fqdnType is Exact"),
                        ({"fqdn": "h.b", "aliases": ["h.b"]}, "the fqdn itself"),
                        ({"fqdn": "h.b", "aliases": ["a.b", "A.b"]}, "unique"),
                        ({"fqdn": "h.b", "aliases": ["g.b"], "gslb": {"fqdn": "g.b"}}, "GSLB FQDN"),
                        ({"fqdn": "h.b", "aliases": "a.b"}, "a list of host names")):
        effect, verdict = parse_hostrule(body("h", vh))
        assert effect is None, vh
        (problem,) = verdict.problems
        assert problem.field == "spec.virtualhost.aliases" and message in problem.message, problem
    # An alias is a claim: the younger HostRule naming a host the older serves (as FQDN or alias) loses.
    old = body("old", {"fqdn": "h.b", "aliases": ["a.b"]}, created="2026-01-01T00:00:00Z")
    young = body("young", {"fqdn": "a.b"}, created="2026-02-01T00:00:00Z")
    younger = body("younger", {"fqdn": "x.b", "aliases": ["h.b"]}, created="2026-03-01T00:00:00Z")
    ref = lambda n: ObjectRef(kind="HostRule", namespace="default", name=n)  # noqa: E731
    assert winners([younger, young, old]) == {ref("young"): (ref("old"), "a.b"), ref("younger"): (ref("old"), "h.b")}
    assert conflict(obj=ref("younger"), holder=ref("old"), fqdn="h.b", alias=True).field == "spec.virtualhost.aliases"


def test_aliases_join_the_sni_child_its_rules_and_the_vsvip() -> None:
    effect = parse_hostrule(body("h", {"fqdn": "h", "aliases": ["h2"]}))[0]
    assert effect is not None
    child = AviObject("virtualservice", "admin", "c--h", {**_child().body, "vh_domain_name": ["h"]})
    assert apply_to_vs(child, effect).body["vh_domain_name"] == ["h", "h2"]
    rule = {"name": "r", "match": {"host_hdr": {"match_criteria": "HDR_EQUALS", "value": ["h"]}}}
    assert with_aliases([rule], effect)[0]["match"]["host_hdr"]["value"] == ["h", "h2"]
    assert with_aliases([rule], None) == [rule]
    assert dns_names(["h"], [effect]) == ["h", "h2"]


def test_a_secret_certificate_keeps_the_one_made_from_it_first_and_an_avi_alternate_second() -> None:
    effect, verdict = parse_hostrule(body("h", {"fqdn": "h", "tls": {"sslKeyCertificate": {
        "name": "my-tls", "type": "secret", "alternateCertificate": {"name": "avi-ec", "type": "ref"}}}}))
    assert effect is not None and effect.secret_certificate == "my-tls" and effect.certificates == ("avi-ec",)
    assert [r.name for r in verdict.refs] == ["avi-ec"]  # the Secret is checked in the cluster, not on the controller
    assert apply_to_vs(_child(), effect).body["ssl_key_and_certificate_refs"] == [
        name_ref("sslkeyandcertificate", "c--h"), name_ref("sslkeyandcertificate", "avi-ec")]
    assert HostRules([effect]).secret_refs() == {("default", "my-tls")}
