"""Ingresses and IngressClasses as a Kubernetes 1.18 apiserver serves them (v1beta1), trimmed to the v1 shape."""

from __future__ import annotations

import copy
from typing import Any

from akod.kube.resources import RESOURCES
from akod.kube.trimming import trim_ingress, trim_ingress_class, trim_ingress_class_v1beta1, trim_ingress_v1beta1

# GET /apis/networking.k8s.io/v1beta1/namespaces/default/ingresses/kuard on 1.18 (pathType defaulted
# by the server; servicePort an int or a port name; the default backend in spec.backend).
RAW_V1BETA1: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1beta1",
    "kind": "Ingress",
    "metadata": {
        "name": "kuard", "namespace": "default", "uid": "u-1", "resourceVersion": "42",
        "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 1, "selfLink": "/apis/networking.k8s.io/v1beta1/x",
        "annotations": {"ako.vmware.com/enable-tls": "true",
                        "ako.vmware.com/host-fqdn-vs-uuid-map": "{\"kuard.avi.iberia.local\": \"virtualservice-1\"}"},
        "managedFields": [{"manager": "kubectl", "apiVersion": "networking.k8s.io/v1beta1"}],
    },
    "spec": {
        "ingressClassName": "avi-lb",
        "backend": {"serviceName": "fallback", "servicePort": 8080},
        "tls": [{"hosts": ["kuard.avi.iberia.local"], "secretName": "kuard-tls"}],
        "rules": [
            {"host": "kuard.avi.iberia.local", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"serviceName": "kuard", "servicePort": 8080}},
                {"path": "/api", "pathType": "Exact", "backend": {"serviceName": "api", "servicePort": "http"}},
                {"path": "/static", "pathType": "ImplementationSpecific",
                 "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "s"}}},
            ]}},
        ],
    },
    "status": {"loadBalancer": {"ingress": [{"ip": "10.10.25.3", "hostname": "kuard.avi.iberia.local"}]}},
}

# The same Ingress as networking.k8s.io/v1 serves it on 1.19+.
RAW_V1: dict[str, Any] = {
    **RAW_V1BETA1, "apiVersion": "networking.k8s.io/v1",
    "spec": {
        "ingressClassName": "avi-lb",
        "defaultBackend": {"service": {"name": "fallback", "port": {"number": 8080}}},
        "tls": [{"hosts": ["kuard.avi.iberia.local"], "secretName": "kuard-tls"}],
        "rules": [
            {"host": "kuard.avi.iberia.local", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "kuard", "port": {"number": 8080}}}},
                {"path": "/api", "pathType": "Exact",
                 "backend": {"service": {"name": "api", "port": {"name": "http"}}}},
                {"path": "/static", "pathType": "ImplementationSpecific",
                 "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "s"}}},
            ]}},
        ],
    },
}


def test_a_v1beta1_ingress_trims_to_the_body_of_the_same_ingress_read_as_v1() -> None:
    old, new = trim_ingress_v1beta1(RAW_V1BETA1), trim_ingress(RAW_V1)
    identity = ("Ingress", "default", "kuard", "u-1", "42")
    assert (old.kind, old.namespace, old.name, old.uid, old.resource_version) == identity
    assert (new.kind, new.namespace, new.name, new.uid, new.resource_version) == identity
    assert {k: v for k, v in old.body.items() if k not in ("class_annotation", "field_names")} == new.body
    assert old.body["class_annotation"] == ""
    assert old.body["field_names"]["default_backend"] == "spec.backend"


def test_service_port_by_number_or_by_name_and_the_default_backend_from_spec_backend() -> None:
    body = trim_ingress_v1beta1(RAW_V1BETA1).body
    paths = body["rules"][0]["paths"]
    assert paths[0] == {"path": "/", "path_type": "Prefix", "service": "kuard", "port_number": 8080, "port_name": ""}
    assert paths[1] == {"path": "/api", "path_type": "Exact", "service": "api", "port_number": None,
                        "port_name": "http"}
    assert paths[2]["service"] == ""  # a resource backend: no Service
    assert body["default_backend"] == {"service": "fallback", "port_number": 8080, "port_name": ""}


def test_a_path_stored_before_path_type_existed_is_implementation_specific() -> None:
    raw = copy.deepcopy(RAW_V1BETA1)
    for p in raw["spec"]["rules"][0]["http"]["paths"]:
        p.pop("pathType")
    assert {p["path_type"] for p in trim_ingress_v1beta1(raw).body["rules"][0]["paths"]} == {"ImplementationSpecific"}


def test_the_class_annotation_of_the_v1beta1_era_is_kept_and_other_annotations_are_not() -> None:
    raw = copy.deepcopy(RAW_V1BETA1)
    raw["spec"].pop("ingressClassName")
    raw["metadata"]["annotations"].update({"kubernetes.io/ingress.class": "avi",
                                           "kubectl.kubernetes.io/last-applied-configuration": "{}"})
    body = trim_ingress_v1beta1(raw).body
    assert body["class_name"] == "" and body["class_annotation"] == "avi"
    assert body["annotations"] == {"ako.vmware.com/enable-tls": "true"}
    assert body["fqdn_map"] == "{\"kuard.avi.iberia.local\": \"virtualservice-1\"}"
    assert body["lb_ingress"] == [{"ip": "10.10.25.3", "hostname": "kuard.avi.iberia.local"}]


def test_a_minimal_v1beta1_ingress_has_every_field() -> None:
    body = trim_ingress_v1beta1({"metadata": {"name": "x", "namespace": "y"}, "spec": {}}).body
    assert body["class_name"] == "" and body["class_annotation"] == "" and body["default_backend"] is None
    assert body["rules"] == [] and body["tls"] == [] and body["lb_ingress"] == [] and body["fqdn_map"] == ""
    empty_backend = trim_ingress_v1beta1({"metadata": {"name": "x", "namespace": "y"},
                                          "spec": {"backend": {"servicePort": 80}}}).body
    assert empty_backend["default_backend"] is None


def test_a_v1beta1_ingress_class_trims_like_a_v1_one() -> None:
    raw = {"apiVersion": "networking.k8s.io/v1beta1", "kind": "IngressClass",
           "metadata": {"name": "avi-lb", "uid": "c1", "resourceVersion": "3",
                        "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
           "spec": {"controller": "ako.vmware.com/avi-lb",
                    "parameters": {"apiGroup": "ako.vmware.com", "kind": "AviInfraSetting", "name": "x"}}}
    old = trim_ingress_class_v1beta1(raw)
    assert old.body == {"name": "avi-lb", "controller": "ako.vmware.com/avi-lb", "is_default": True,
                        "parameters": {"api_group": "ako.vmware.com", "kind": "AviInfraSetting", "name": "x"}}
    assert old == trim_ingress_class({**raw, "apiVersion": "networking.k8s.io/v1"})


def test_every_version_of_ingresses_is_stored_as_ingress_under_a_cursor_of_its_own() -> None:
    for name, kind in (("ingresses", "Ingress"), ("ingressclasses", "IngressClass")):
        variants = RESOURCES[name]
        assert variants[0].group_version == "networking.k8s.io/v1"  # best first
        assert {v.kind for v in variants} == {kind}
        assert len({v.cursor_name for v in variants}) == len(variants)
    assert [v.group_version for v in RESOURCES["ingresses"]] == [
        "networking.k8s.io/v1", "networking.k8s.io/v1beta1", "extensions/v1beta1"]
