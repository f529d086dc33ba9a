"""Trimming Ingresses, IngressClasses and TLS Secrets as the API server sends them (camelCase JSON)."""

from __future__ import annotations

import base64
import hashlib
import json

from akod.kube.trimming import trim_ingress, trim_ingress_class, trim_secret
from akod.model.checksums import canonical_json
from tests.unit.test_l7_seed import valid_pair

RAW_INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {
        "name": "kuard", "namespace": "default", "uid": "u-1", "resourceVersion": "42",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "annotations": {"ako.vmware.com/enable-tls": "true", "kubectl.kubernetes.io/last-applied-configuration": "{}",
                        "ako.vmware.com/host-fqdn-vs-uuid-map": "{\"kuard.avi.iberia.local\": \"virtualservice-1\"}"},
        "managedFields": [{"manager": "kubectl"}],
    },
    "spec": {
        "ingressClassName": "avi-lb",
        "defaultBackend": {"service": {"name": "fallback", "port": {"number": 8080}}},
        "tls": [{"hosts": ["kuard.avi.iberia.local"], "secretName": "kuard-tls"}, {"hosts": ["x.com"]}],
        "rules": [
            {"host": "kuard.avi.iberia.local", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "kuard", "port": {"number": 8080}}}},
                {"path": "/api", "pathType": "Exact", "backend": {"service": {"name": "api", "port": {"name": "http"}}}},
                {"path": "/static", "pathType": "ImplementationSpecific",
                 "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "s"}}},
            ]}},
            {"host": "empty.example.com"},
            {"http": {"paths": [{"pathType": "Prefix", "backend": {"service": {"name": "kuard", "port": {}}}}]}},
        ],
    },
    "status": {"loadBalancer": {"ingress": [{"ip": "10.10.25.3", "hostname": "kuard.avi.iberia.local",
                                             "ports": []}]}},
}


def test_ingress_is_trimmed_to_what_the_translation_reads() -> None:
    observed = trim_ingress(RAW_INGRESS)
    assert (observed.kind, observed.namespace, observed.name, observed.uid, observed.resource_version) == (
        "Ingress", "default", "kuard", "u-1", "42")
    assert observed.body == {
        "name": "kuard", "namespace": "default", "uid": "u-1", "created": "2026-01-01T00:00:00Z",
        "annotations": {"ako.vmware.com/enable-tls": "true"},
        "class_name": "avi-lb",
        "default_backend": {"service": "fallback", "port_number": 8080, "port_name": ""},
        "rules": [
            {"host": "kuard.avi.iberia.local", "paths": [
                {"path": "/", "path_type": "Prefix", "service": "kuard", "port_number": 8080, "port_name": ""},
                {"path": "/api", "path_type": "Exact", "service": "api", "port_number": None, "port_name": "http"},
                {"path": "/static", "path_type": "ImplementationSpecific", "service": "", "port_number": None,
                 "port_name": ""},
            ]},
            {"host": "empty.example.com", "paths": []},
            {"host": "", "paths": [{"path": "", "path_type": "Prefix", "service": "kuard", "port_number": None,
                                    "port_name": ""}]},
        ],
        "tls": [{"hosts": ["kuard.avi.iberia.local"], "secret": "kuard-tls"}, {"hosts": ["x.com"], "secret": ""}],
        "lb_ingress": [{"ip": "10.10.25.3", "hostname": "kuard.avi.iberia.local"}],
        "fqdn_map": "{\"kuard.avi.iberia.local\": \"virtualservice-1\"}",
    }


def test_minimal_ingress_has_every_field() -> None:
    body = trim_ingress({"metadata": {"name": "x", "namespace": "y"}, "spec": {}}).body
    assert body["class_name"] == "" and body["default_backend"] is None
    assert body["rules"] == [] and body["tls"] == [] and body["lb_ingress"] == [] and body["fqdn_map"] == ""


def test_ingress_class_keeps_controller_and_default_mark() -> None:
    raw = {"metadata": {"name": "avi-lb", "uid": "c1", "resourceVersion": "3",
                        "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
           "spec": {"controller": "ako.vmware.com/avi-lb", "parameters": {"kind": "AviInfraSetting", "name": "x"}}}
    observed = trim_ingress_class(raw)
    assert (observed.kind, observed.namespace, observed.name) == ("IngressClass", "", "avi-lb")
    assert observed.body == {"name": "avi-lb", "controller": "ako.vmware.com/avi-lb", "is_default": True,
                             "parameters": {"api_group": "", "kind": "AviInfraSetting", "name": "x"}}
    plain = trim_ingress_class({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}})
    assert plain.body["is_default"] is False


def test_secret_material_is_decoded_into_memory_and_only_a_digest_is_kept() -> None:
    cert, key = valid_pair()
    data = {"tls.crt": base64.b64encode(cert.encode()).decode(), "tls.key": base64.b64encode(key.encode()).decode(),
            "ca.crt": base64.b64encode(b"ca").decode()}
    raw = {"metadata": {"name": "kuard-tls", "namespace": "default", "uid": "s1", "resourceVersion": "9"},
           "type": "kubernetes.io/tls", "data": data}
    observed = trim_secret(raw)
    assert observed.body == {"name": "kuard-tls", "namespace": "default", "type": "kubernetes.io/tls",
                             "digest": hashlib.sha256(canonical_json(data).encode()).hexdigest()}
    assert observed.material == {"tls.crt": cert, "tls.key": key}
    stored = json.dumps(observed.body)
    assert "PRIVATE KEY" not in stored and data["tls.key"] not in stored
    assert "PRIVATE KEY" not in repr(observed)
    rotated = trim_secret({**raw, "data": {**data, "tls.crt": base64.b64encode(b"other").decode()}})
    assert rotated.body["digest"] != observed.body["digest"]
    assert rotated == observed  # equality is identity and version, never the material


def test_secret_data_that_is_not_base64_becomes_empty_material() -> None:
    raw = {"metadata": {"name": "s", "namespace": "default"}, "type": "kubernetes.io/tls",
           "data": {"tls.crt": "not base64!!", "tls.key": ""}}
    assert trim_secret(raw).material == {"tls.crt": "", "tls.key": ""}
