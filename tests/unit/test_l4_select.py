"""Which Services are akod's L4 Services, and their keys (l4_key), including scenario 8 of §6.2."""

from __future__ import annotations

from akod.model.l4 import l4_key
from tests.unit.test_l4_seed import CTX, ctx, service

SHARED = "ako.vmware.com/enable-shared-vip"


def test_loadbalancer_service_is_keyed_by_its_vs_name() -> None:
    assert l4_key(service=service("svc1", namespace="red-ns"), namespace_labels={}, ctx=CTX) == "l4:S1-AZ1--red-ns-svc1"


def test_clusterip_and_nodeport_services_are_not_l4() -> None:
    for type_ in ("ClusterIP", "NodePort", "ExternalName"):
        assert l4_key(service=service("svc1", type_=type_), namespace_labels={}, ctx=CTX) is None


def test_shared_vip_annotation_keys_the_service_by_the_group() -> None:
    svc = service("svc1", namespace="red-ns", annotations={SHARED: "shared-vip-key-1"})
    assert l4_key(service=svc, namespace_labels={}, ctx=CTX) == "l4:S1-AZ1--red-ns-shared-vip-key-1"


def test_empty_shared_vip_annotation_leaves_the_service_its_own_vip() -> None:
    svc = service("svc1", namespace="red-ns", annotations={SHARED: ""})
    assert l4_key(service=svc, namespace_labels={}, ctx=CTX) == "l4:S1-AZ1--red-ns-svc1"


def test_foreign_load_balancer_class_is_not_ours() -> None:
    svc = service("svc1", lb_class="metallb.io/metallb")
    assert l4_key(service=svc, namespace_labels={}, ctx=CTX) is None
    assert l4_key(service=svc, namespace_labels={}, ctx=ctx(default_lb_controller=False)) is None


def test_avi_load_balancer_class_is_ours_even_when_not_default_controller() -> None:
    svc = service("svc1", lb_class="ako.vmware.com/avi-lb")
    assert l4_key(service=svc, namespace_labels={}, ctx=CTX) is not None
    assert l4_key(service=svc, namespace_labels={}, ctx=ctx(default_lb_controller=False)) is not None


def test_service_without_class_is_ours_only_as_default_controller() -> None:
    svc = service("svc1")
    assert l4_key(service=svc, namespace_labels={}, ctx=CTX) is not None
    assert l4_key(service=svc, namespace_labels={}, ctx=ctx(default_lb_controller=False)) is None


def test_blocked_namespace_is_not_served() -> None:
    svc = service("svc1", namespace="kube-system")
    assert l4_key(service=svc, namespace_labels={}, ctx=ctx(blocked_namespaces=frozenset({"kube-system"}))) is None


def test_namespace_selector_needs_the_label_value() -> None:
    context = ctx(namespace_selector=("app", "migrate"))
    svc = service("svc1", namespace="red")
    assert l4_key(service=svc, namespace_labels={"app": "migrate"}, ctx=context) == "l4:S1-AZ1--red-svc1"
    assert l4_key(service=svc, namespace_labels={"app": "migrate1"}, ctx=context) is None
    assert l4_key(service=svc, namespace_labels={}, ctx=context) is None


def test_unknown_namespace_is_not_selected_while_a_selector_is_set() -> None:
    svc = service("svc1", namespace="red")
    assert l4_key(service=svc, namespace_labels=None, ctx=ctx(namespace_selector=("app", "migrate"))) is None
    assert l4_key(service=svc, namespace_labels=None, ctx=CTX) == "l4:S1-AZ1--red-svc1"
