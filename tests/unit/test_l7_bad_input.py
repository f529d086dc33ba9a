"""Bad input of issue 4's acceptance e: each an object error naming the Ingress and the field, while
the rest of the Ingress and the other Ingresses of the shard are still served.

Every test puts a healthy Ingress (`good`, host noo.com, shard 0 like foo.com) beside the bad one
and checks that it is served exactly as it would be alone.
"""

from __future__ import annotations

from typing import Any

import pytest

from akod.model.l7 import L7Result, ingress_accepted
from tests.unit.test_l7_seed import (
    AKO,
    backend,
    expired_pair,
    future_pair,
    ingress,
    names,
    no_key_material,
    path,
    pods,
    problems,
    rsa_pair,
    rule,
    rules,
    svc_map,
    tls,
    tls_secret,
    translate,
    valid_pair,
)

SHARD0 = "cluster--Shared-L7-0"
SERVICES = svc_map(backend("avisvc", 8080, port_name="http"), backend("good", 80))
ENDPOINTS = {**pods("avisvc", 8080, "1.1.1.1"), **pods("good", 80, "1.1.1.2")}
GOOD_POOL = "cluster--noo.com_-default-good"


def good() -> dict[str, Any]:
    return ingress("good", rule("noo.com", path("/", "good", 80)), created="2026-01-05T00:00:00Z")


def with_good(bad: dict[str, Any], *, secrets: list[Any] | None = None, host: str = "noo.com") -> L7Result:
    result = translate([bad, good()], services=SERVICES, endpoints=ENDPOINTS, secrets=secrets, host=host)
    assert GOOD_POOL in names(result, "pool"), "the healthy Ingress must still be served"
    assert ("noo.com", SHARD0) in result.served[("default", "good")]
    assert not [p for p in result.problems if p.obj.name == "good"]
    return result


def bad_rule(*paths: dict[str, Any], host: str = "foo.com", **kwargs: Any) -> dict[str, Any]:
    return ingress("bad", rule(host, *paths), **kwargs)


def test_backend_service_missing() -> None:
    result = with_good(bad_rule(path("/", "nosuchsvc", 80)))
    assert problems(result) == [("bad", "spec.rules[0].http.paths[0].backend.service.name", "BackendServiceMissing")]
    assert "nosuchsvc" in result.problems[0].message
    assert names(result, "pool") == [GOOD_POOL]
    assert result.served[("default", "bad")] == ()


def test_backend_port_name_not_on_the_service() -> None:
    result = with_good(bad_rule(path("/", "avisvc", name="grpc")))
    assert problems(result) == [("bad", "spec.rules[0].http.paths[0].backend.service.port.name", "BackendPortMissing")]


def test_backend_port_number_not_on_the_service() -> None:
    result = with_good(bad_rule(path("/", "avisvc", 9999)))
    assert problems(result) == [("bad", "spec.rules[0].http.paths[0].backend.service.port.number",
                                 "BackendPortMissing")]


def test_missing_backend_port_means_80() -> None:
    ing = bad_rule({"path": "/", "path_type": "Prefix", "service": "good", "port_number": None, "port_name": ""})
    result = with_good(ing)
    assert result.problems == ()
    assert "cluster--foo.com_-default-bad" in names(result, "pool")


def test_only_the_bad_path_of_an_ingress_is_left_out() -> None:
    result = with_good(bad_rule(path("/ok", "good", 80), path("/broken", "nosuchsvc", 80)))
    assert "cluster--foo.com_ok-default-bad" in names(result, "pool")
    assert problems(result) == [("bad", "spec.rules[0].http.paths[1].backend.service.name", "BackendServiceMissing")]
    assert result.served[("default", "bad")] == (("foo.com", SHARD0),)


@pytest.mark.parametrize(("host", "words"), [
    ("*.foo.com", "wildcard"),
    ("Foo.com", "upper-case"),
    ("foo.com.", "trailing dot"),
    (".".join(["a" * 60] * 4) + ".example.com", "more than the 253"),
    ("foo_bar.com", "not a DNS name"),
    ("foo..com", "not a DNS name"),
    ("-foo.com", "not a DNS name"),
])
def test_invalid_host_is_refused_on_its_field(host: str, words: str) -> None:
    ing = bad_rule(path("/", "good", 80), host=host)
    result = translate([ing, good()], services=SERVICES, endpoints=ENDPOINTS, host=host)
    assert [p for p in problems(result) if p[0] == "bad"] == [("bad", "spec.rules[0].host", "InvalidHost")]
    assert words in result.problems[0].message
    assert not [n for n in names(result, "pool") if "-bad" in n]
    assert result.served[("default", "bad")] == ()


def test_path_not_starting_with_a_slash() -> None:
    result = with_good(bad_rule(path("foo", "good", 80)))
    assert problems(result) == [("bad", "spec.rules[0].http.paths[0].path", "InvalidPath")]


def test_same_host_and_path_in_two_ingresses_the_oldest_wins() -> None:
    older = ingress("older", rule("noo.com", path("/api", "good", 80)), created="2026-01-01T00:00:00Z")
    newer = ingress("newer", rule("noo.com", path("/api", "avisvc", name="http")), created="2026-01-02T00:00:00Z")
    for order in ([older, newer], [newer, older]):
        result = translate([*order, good()], services=SERVICES, endpoints=ENDPOINTS)
        assert problems(result) == [("newer", "spec.rules[0].http.paths[0].path", "HostPathConflict")]
        assert "default/older" in result.problems[0].message
        assert "cluster--noo.com_api-default-older" in names(result, "pool")
        assert not [n for n in names(result, "pool") if n.endswith("-newer")]
        assert result.served[("default", "newer")] == ()
        assert GOOD_POOL in names(result, "pool")


def test_same_path_exact_and_prefix_are_two_routes_not_a_conflict() -> None:
    one = ingress("one", rule("noo.com", path("/api", "good", 80)), created="2026-01-01T00:00:00Z")
    two = ingress("two", rule("noo.com", path("/api", "good", 80, path_type="Exact")), created="2026-01-02T00:00:00Z")
    result = translate([one, two], services=SERVICES, endpoints=ENDPOINTS)
    assert result.problems == ()
    assert len(rules(result, SHARD0)) == 2


def test_class_of_another_controller_is_simply_not_selected() -> None:
    foreign = bad_rule(path("/", "good", 80), class_name="nginx")
    classes = {"nginx": {"name": "nginx", "controller": "k8s.io/ingress-nginx", "is_default": False}}
    assert not ingress_accepted(ingress=foreign, classes=classes, namespace_labels={}, ctx=AKO)


# -- certificates --------------------------------------------------------------------------------------------

def tls_ingress() -> dict[str, Any]:
    return bad_rule(path("/", "good", 80), tls_=[tls("foo-tls", "foo.com")])


@pytest.mark.parametrize(("material", "words"), [
    ({"tls.crt": "this is not a certificate", "tls.key": valid_pair()[1]}, "tls.crt is not a PEM certificate"),
    ({"tls.crt": valid_pair()[0], "tls.key": "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n"},
     "tls.key is not a PEM private key"),
    ({"tls.crt": valid_pair()[0], "tls.key": rsa_pair()[1]}, "does not match the certificate"),
    ({"tls.crt": valid_pair()[0], "tls.key": valid_pair("other.com")[1]}, "does not match the certificate"),
    ({"tls.crt": expired_pair()[0], "tls.key": expired_pair()[1]}, "expired on"),
    ({"tls.crt": future_pair()[0], "tls.key": future_pair()[1]}, "not valid before"),
    ({"tls.crt": valid_pair()[0]}, "tls.key is missing"),
])
def test_unusable_tls_secret_is_an_error_naming_the_secret_and_the_ingress(material: dict[str, str],
                                                                           words: str) -> None:
    result = with_good(tls_ingress(), secrets=[tls_secret("foo-tls", material=material)])
    assert problems(result) == [("bad", "spec.tls[0].secretName", "SecretInvalid")]
    message = result.problems[0].message
    assert words in message
    assert "Secret default/foo-tls" in message and "Ingress default/bad" in message
    assert names(result, "sslkeyandcertificate") == []
    assert names(result, "virtualservice") == [SHARD0]
    assert result.served[("default", "bad")] == ()
    no_key_material(result, *[v for k, v in material.items() if k == "tls.key" and "BEGIN" in v])


def test_rsa_certificate_with_its_key_is_accepted() -> None:
    result = with_good(tls_ingress(), secrets=[tls_secret("foo-tls", rsa_pair())])
    assert result.problems == ()
    assert names(result, "sslkeyandcertificate") == ["cluster--foo.com"]


def test_a_bad_secret_of_one_ingress_does_not_unserve_the_host_of_another() -> None:
    older = ingress("older", rule("foo.com", path("/a", "good", 80)), tls_=[tls("ok", "foo.com")],
                    created="2026-01-01T00:00:00Z")
    newer = ingress("newer", rule("foo.com", path("/b", "good", 80)), tls_=[tls("broken", "foo.com")],
                    created="2026-01-02T00:00:00Z")
    broken = tls_secret("broken", material={"tls.crt": "x", "tls.key": "y"})
    result = translate([older, newer], services=SERVICES, endpoints=ENDPOINTS,
                       secrets=[tls_secret("ok"), broken])
    assert problems(result) == [("newer", "spec.tls[0].secretName", "SecretInvalid")]
    assert result.served[("default", "older")] == (("foo.com", "cluster--foo.com"),)
    assert result.served[("default", "newer")] == ()


def test_a_problem_of_no_host_is_reported_once_by_the_first_key_of_the_ingress() -> None:
    ing = ingress("two-shards", rule("foo.com", path("/", "good", 80)), rule("bar.com", path("/", "good", 80)),
                  default_backend={"service": "good", "port_number": 80, "port_name": ""})
    first = translate([ing], services=SERVICES, host="foo.com")  # l7:cluster--Shared-L7-0
    second = translate([ing], services=SERVICES, host="bar.com")  # l7:cluster--Shared-L7-1
    assert problems(first) == [("two-shards", "spec.defaultBackend", "DefaultBackendNotServed")]
    assert second.problems == ()
    assert first.served[("default", "two-shards")] == (("foo.com", SHARD0),)
    assert second.served[("default", "two-shards")] == (("bar.com", "cluster--Shared-L7-1"),)


def test_problems_of_an_ingress_read_as_v1beta1_name_the_fields_as_v1beta1_spells_them() -> None:
    from akod.kube.trimming import trim_ingress_v1beta1

    raw = {"metadata": {"name": "bad", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"backend": {"serviceName": "good", "servicePort": 80},
                    "rules": [{"host": "foo.com", "http": {"paths": [
                        {"path": "/a", "backend": {"serviceName": "nosuchsvc", "servicePort": 80}},
                        {"path": "/b", "backend": {"serviceName": "avisvc", "servicePort": "grpc"}},
                        {"path": "/c", "backend": {"serviceName": "avisvc", "servicePort": 9999}}]}}]}}
    result = with_good(trim_ingress_v1beta1(raw).body)
    assert sorted(problems(result)) == [
        ("bad", "spec.backend", "DefaultBackendNotServed"),
        ("bad", "spec.rules[0].http.paths[0].backend.serviceName", "BackendServiceMissing"),
        ("bad", "spec.rules[0].http.paths[1].backend.servicePort", "BackendPortMissing"),
        ("bad", "spec.rules[0].http.paths[2].backend.servicePort", "BackendPortMissing")]
