"""L4Rule: a spec read into its effect and verdict, and the effect applied to the L4 bodies.

Pure: the L4Rule bodies are the trimmed CRs (`trim_custom_resource`), as the apiserver gives them
(with the CRD's defaults), and the L4 bodies come from `translate_l4`.
"""

from __future__ import annotations

from typing import Any

from akod.model.l4 import l4_key, translate_l4
from akod.model.l4rule import judge_types, parse_l4rule, type_reads
from akod.model.l4rule_apply import L4Rules
from tests.unit.test_l4_seed import CTX, SEED_NODES, hackazon, hackazon_endpoints, one, port, problems, service

NAME = "S1-AZ1--default-hackazon"
DEFAULTS = {"applicationProfileRef": "System-L4-Application", "networkProfileRef": "System-TCP-Proxy",
            "analyticsProfileRef": "System-Analytics-Profile"}


def l4rule(spec: dict[str, Any], *, name: str = "rule", namespace: str = "default",
           status: str = "Accepted") -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "uid": f"uid-{name}", "created": "2026-01-02T00:00:00Z",
            "generation": 1, "spec": {**DEFAULTS, **spec}, "status": {"status": status, "error": ""}}


def rules(*bodies: dict[str, Any]) -> L4Rules:
    effects = {}
    for body in bodies:
        effect, _ = parse_l4rule(body)
        if effect is not None and body["status"]["status"] == "Accepted":
            effects[(body["namespace"], body["name"])] = effect
    present = {(b["namespace"], b["name"]): (b["status"]["status"], b["status"]["error"]) for b in bodies}
    return L4Rules(effects=effects, present=present)


def named(svc: dict[str, Any], rule: str) -> dict[str, Any]:
    return {**svc, "annotations": {**svc["annotations"], "ako.vmware.com/l4rule": rule}}


def translate(svc: dict[str, Any], l4rules: L4Rules | None, endpoints: Any = None) -> Any:
    key = l4_key(service=svc, namespace_labels={}, ctx=CTX)
    assert key is not None
    return translate_l4(key=key, services=[svc], endpoints=endpoints or hackazon_endpoints(), nodes=SEED_NODES,
                        ctx=CTX, l4rules=l4rules)


def payloads(result: Any) -> list[dict[str, Any]]:
    return [o.body for o in result.objects]


def fields(verdict: Any) -> list[str]:
    return [p.field for p in verdict.problems]


SPEC = {"networkProfileRef": "Custom-TCP", "listenerProperties": [{"port": 80, "protocol": "TCP", "enableSsl": True}],
        "sslKeyAndCertificateRefs": ["System-Default-Cert"], "performanceLimits": {"maxConcurrentConnections": 105},
        "vsDatascriptRefs": ["ds-1"], "securityPolicyRef": "sec", "networkSecurityPolicyRef": "nsp",
        "analyticsPolicy": {"fullClientLogs": {"enabled": True, "duration": 0}},
        "backendProperties": [{"port": 80, "protocol": "TCP", "lbAlgorithm": "LB_ALGORITHM_CONSISTENT_HASH",
                               "lbAlgorithmHash": "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER",
                               "lbAlgorithmConsistentHashHdr": "X-User", "healthMonitorRefs": ["System-HTTP"],
                               "applicationPersistenceProfileRef": "System-Persistence-Client-IP",
                               "minServersUp": 1, "enabled": True, "analyticsPolicy": {"enableRealtimeMetrics": True}}]}


def test_an_accepted_l4rule_sets_the_vs_and_pool_fields_as_ako_does() -> None:
    result = translate(named(hackazon(), "rule"), rules(l4rule(SPEC)))
    assert problems(result) == []
    vs = one(result, "virtualservice")
    assert vs["network_profile_ref"].endswith("name=Custom-TCP")
    # SSL on a listener with the CRD's default application profile: AKO's System-SSL-Application.
    assert vs["application_profile_ref"].endswith("name=System-SSL-Application")
    assert vs["analytics_profile_ref"].endswith("name=System-Analytics-Profile")
    assert vs["security_policy_ref"].endswith("name=sec") and vs["network_security_policy_ref"].endswith("name=nsp")
    assert [s["enable_ssl"] for s in vs["services"]] == [True]
    assert vs["ssl_key_and_certificate_refs"] == ["/api/sslkeyandcertificate/?name=System-Default-Cert"]
    assert vs["performance_limits"] == {"max_concurrent_connections": 105}
    assert vs["analytics_policy"] == {"full_client_logs": {"enabled": True, "duration": 0}}
    assert vs["vs_datascripts"] == [{"index": 0, "vs_datascript_set_ref": "/api/vsdatascriptset/?name=ds-1"}]
    pool = one(result, "pool")
    assert pool["lb_algorithm"] == "LB_ALGORITHM_CONSISTENT_HASH"
    assert pool["lb_algorithm_hash"] == "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER"
    assert pool["lb_algorithm_consistent_hash_hdr"] == "X-User"
    assert pool["health_monitor_refs"] == ["/api/healthmonitor/?name=System-HTTP"]
    assert pool["application_persistence_profile_ref"].endswith("name=System-Persistence-Client-IP")
    assert (pool["min_servers_up"], pool["enabled"], pool["analytics_policy"]) == (
        1, True, {"enable_realtime_metrics": True})
    assert result.l4_rules == {"hackazon": parse_l4rule(l4rule(SPEC))[0].ref}  # type: ignore[union-attr]


def test_without_the_annotation_or_once_it_is_removed_the_bodies_are_the_defaults_exactly() -> None:
    plain = payloads(translate(hackazon(), None))
    assert payloads(translate(hackazon(), rules(l4rule(SPEC)))) == plain
    assert payloads(translate(named(hackazon(), "rule"), rules(l4rule(SPEC)))) != plain


def test_a_missing_l4rule_serves_the_defaults_and_names_the_annotation() -> None:
    result = translate(named(hackazon(), "nope"), rules(l4rule(SPEC)))
    assert payloads(result) == payloads(translate(hackazon(), None))
    assert problems(result) == [("hackazon", "metadata.annotations[ako.vmware.com/l4rule]", "L4RuleNotFound")]


def test_a_rejected_l4rule_serves_the_defaults_and_says_why_and_one_not_judged_yet_says_nothing() -> None:
    rejected = l4rule(SPEC, status="Rejected")
    rejected["status"]["error"] = "spec.networkProfileRef: NetworkProfile 'x' does not exist"
    result = translate(named(hackazon(), "rule"), rules(rejected))
    assert problems(result) == [("hackazon", "metadata.annotations[ako.vmware.com/l4rule]", "L4RuleNotAccepted")]
    assert "NetworkProfile 'x' does not exist" in result.problems[0].message
    pending = translate(named(hackazon(), "rule"), rules(l4rule(SPEC, status="")))
    assert problems(pending) == [] and payloads(pending) == payloads(translate(hackazon(), None))


def test_another_namespace_is_named_with_a_prefix() -> None:
    result = translate(named(hackazon(), "green/rule"), rules(l4rule(SPEC, namespace="green")))
    assert problems(result) == []
    assert one(result, "virtualservice")["network_profile_ref"].endswith("name=Custom-TCP")


def test_listener_properties_must_cover_the_service_ports_or_nothing_applies() -> None:
    two = service("hackazon", ports=[port(80), port(81)])
    result = translate(named(two, "rule"), rules(l4rule({**SPEC, "sslKeyAndCertificateRefs": []})))
    assert problems(result) == [("hackazon", "metadata.annotations[ako.vmware.com/l4rule]",
                                 "L4RuleListenersMismatch")]
    assert "network_profile_ref" in one(result, "virtualservice")
    assert not one(result, "virtualservice")["network_profile_ref"].endswith("Custom-TCP")


def test_the_l4rule_ip_is_used_when_the_service_names_none_and_loses_to_its_own() -> None:
    rule = l4rule({"loadBalancerIP": "10.10.25.77"})
    vip = one(translate(named(hackazon(), "rule"), rules(rule)), "vsvip")["vip"][0]
    assert vip["ip_address"] == {"addr": "10.10.25.77", "type": "V4"}
    own = service("hackazon", lb_ip="10.10.25.78")
    vip = one(translate(named(own, "rule"), rules(rule)), "vsvip")["vip"][0]
    assert vip["ip_address"]["addr"] == "10.10.25.78"
    outside = translate(named(hackazon(), "rule"), rules(l4rule({"loadBalancerIP": "10.99.0.1"})))
    assert outside.objects == ()
    assert [(p.field, p.reason) for p in outside.problems] == [
        ("L4Rule default/rule spec.loadBalancerIP", "LoadBalancerIPOutsideVipNetwork")]


def test_a_backend_of_no_port_of_the_service_is_noted_for_a_warning() -> None:
    spec = {"backendProperties": [{"port": 9999, "protocol": "TCP", "lbAlgorithm": "LB_ALGORITHM_ROUND_ROBIN"}]}
    result = translate(named(hackazon(), "rule"), rules(l4rule(spec)))
    assert "lb_algorithm" not in one(result, "pool")
    (notes,) = result.l4rule_notes.values()
    assert notes == ("spec.backendProperties[0] (TCP 9999: no such port on the Service)",)


def test_validation_names_each_field_as_ako_does() -> None:
    bad = {"loadBalancerIP": "not-an-ip", "sslProfileRef": "System-Standard",
           "backendProperties": [{"port": 80, "protocol": "TCP", "lbAlgorithm": "LB_ALGORITHM_CONSISTENT_HASH"},
                                 {"port": 81, "protocol": "TCP", "lbAlgorithm": "LB_ALGORITHM_ROUND_ROBIN",
                                  "lbAlgorithmHash": "LB_ALGORITHM_CONSISTENT_HASH_URI"},
                                 {"port": 82, "protocol": "TCP", "healthMonitorCrdRefs": ["hm"]}],
           "revokeVipRoute": True}
    effect, verdict = parse_l4rule(l4rule(bad))
    assert effect is None
    assert fields(verdict) == ["spec.loadBalancerIP", "spec.sslProfileRef", "spec.backendProperties[0].lbAlgorithmHash",
                               "spec.backendProperties[1].lbAlgorithmHash",
                               "spec.backendProperties[2].healthMonitorCrdRefs", "spec.revokeVipRoute"]


def test_the_refs_to_check_on_the_controller_name_their_fields() -> None:
    _, verdict = parse_l4rule(l4rule(SPEC))
    refs = {(r.field, r.obj_type, r.name) for r in verdict.refs}
    assert ("spec.networkProfileRef", "networkprofile", "Custom-TCP") in refs
    assert ("spec.vsDatascriptRefs[0]", "vsdatascriptset", "ds-1") in refs
    assert ("spec.backendProperties[0].healthMonitorRefs[0]", "healthmonitor", "System-HTTP") in refs
    assert ("spec.backendProperties[0].applicationPersistenceProfileRef", "applicationpersistenceprofile",
            "System-Persistence-Client-IP") in refs
    assert verdict.valid and verdict.unsupported == ()


def judged(spec: dict[str, Any], app_type: str, net_type: str = "PROTOCOL_TYPE_TCP_PROXY") -> list[tuple[str, str]]:
    body = l4rule(spec)
    reads = {r.field: r for r in type_reads(body)}
    found: dict[str, Any] = {"spec.applicationProfileRef": {"type": app_type}}
    if "spec.networkProfileRef" in reads:
        found["spec.networkProfileRef"] = {"profile": {"type": net_type}}
    return [(p.field, p.message) for p in judge_types(body, found)]


def test_the_profiles_types_are_checked_as_akos_validator_does() -> None:
    ssl = {"listenerProperties": [{"port": 80, "protocol": "TCP", "enableSsl": True}]}
    certs = {**ssl, "sslKeyAndCertificateRefs": ["c"]}
    # An SSL application profile with an SSL listener and a TCP proxy profile: fine; certificates allowed.
    assert judged({**certs, "applicationProfileRef": "System-SSL-Application"}, "APPLICATION_PROFILE_TYPE_SSL") == []
    # ... without SSL on a listener, or with a fast-path network profile: rejected.
    assert [f for f, _ in judged({"applicationProfileRef": "ssl"}, "APPLICATION_PROFILE_TYPE_SSL")] == [
        "spec.applicationProfileRef"]
    assert [f for f, _ in judged({**ssl, "applicationProfileRef": "ssl", "networkProfileRef": "fast"},
                                 "APPLICATION_PROFILE_TYPE_SSL", "PROTOCOL_TYPE_TCP_FAST_PATH")] == [
        "spec.networkProfileRef"]
    # The default L4 profile with SSL: accepted (System-SSL-Application goes on the VS), but no certificates.
    assert judged(ssl, "APPLICATION_PROFILE_TYPE_L4") == []
    assert [f for f, _ in judged(certs, "APPLICATION_PROFILE_TYPE_L4")] == ["spec.sslKeyAndCertificateRefs"]
    assert [f for f, _ in judged({**ssl, "applicationProfileRef": "my-l4"}, "APPLICATION_PROFILE_TYPE_L4")] == [
        "spec.applicationProfileRef"]
    # An HTTP profile cannot serve an L4 VS.
    (problem,) = judged({"applicationProfileRef": "System-HTTP"}, "APPLICATION_PROFILE_TYPE_HTTP")
    assert problem == ("spec.applicationProfileRef", "'System-HTTP' is of type APPLICATION_PROFILE_TYPE_HTTP; an L4 "
                       "virtual service needs APPLICATION_PROFILE_TYPE_L4 or APPLICATION_PROFILE_TYPE_SSL")
