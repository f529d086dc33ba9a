"""Which L7 keys an event marks: the index from Ingresses to shards and from Services/Secrets to Ingresses."""

from __future__ import annotations

from akod.sync.families.l7index import L7Index
from akod.sync.families.l7index import fingerprint as _fingerprint


def ingress(ns: str, name: str, *, services: list[str], secret: str = "", default: str = "") -> dict:
    return {"namespace": ns, "name": name,
            "rules": [{"host": "a.com", "paths": [{"path": "/", "service": s} for s in services]}],
            "tls": [{"hosts": ["a.com"], "secret": secret}] if secret else [],
            "default_backend": {"service": default} if default else None}


def test_an_ingress_moves_between_keys_and_leaves_none_behind() -> None:
    index = L7Index()
    ing = ("default", "web")
    assert index.assign(ing, frozenset({"l7:c--Shared-L7-0", "l7:c--Shared-L7-1"})) == frozenset()
    assert set(index.members) == {"l7:c--Shared-L7-0", "l7:c--Shared-L7-1"}
    assert index.assign(ing, frozenset({"l7:c--Shared-L7-1"})) == {"l7:c--Shared-L7-0", "l7:c--Shared-L7-1"}
    assert set(index.members) == {"l7:c--Shared-L7-1"}
    index.assign(ing, frozenset())
    assert index.members == {} and ing not in index.keys_of


def test_services_and_secrets_mark_the_keys_of_the_ingresses_that_use_them() -> None:
    index = L7Index()
    one, two = ("default", "one"), ("other", "two")
    index.link(one, ingress("default", "one", services=["web", "api"], secret="tls"))
    index.link(two, ingress("other", "two", services=["web"], default="fallback"))
    index.assign(one, frozenset({"l7:k0"}))
    index.assign(two, frozenset({"l7:k1"}))
    assert index.keys_using([("default", "web")]) == {"l7:k0"}  # same name, other namespace: not two's
    assert index.keys_using([("other", "web"), ("default", "tls")]) == {"l7:k0", "l7:k1"}
    assert index.keys_using([("other", "fallback")]) == {"l7:k1"}
    index.link(one, ingress("default", "one", services=["api"]))
    assert index.keys_using([("default", "web"), ("default", "tls")]) == set()
    index.link(two, None)
    assert index.keys_using([("other", "web")]) == set()


def test_what_akod_writes_back_does_not_change_the_fingerprint() -> None:
    body = ingress("default", "one", services=["web"])
    written = {**body, "lb_ingress": [{"ip": "10.10.25.10", "hostname": "a.com"}], "fqdn_map": '{"a.com": "vs-1"}'}
    assert _fingerprint(body) == _fingerprint(written)
    assert _fingerprint(body) != _fingerprint(ingress("default", "one", services=["api"]))
