"""Which Ingresses are akod's (scenario 26 of §6.2) and the keys of their hosts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from akod.model.l7 import hostless_problems, ingress_accepted, keys_of_ingress, shard_key
from tests.unit.test_l7_seed import AKO, ingress, path, rule

AVI = {"name": "avi-lb", "controller": "ako.vmware.com/avi-lb", "is_default": False}
AVI_DEFAULT = {**AVI, "is_default": True}
NGINX = {"name": "nginx", "controller": "k8s.io/ingress-nginx", "is_default": True}


def accepted(ing: dict[str, Any], classes: dict[str, dict[str, Any]], *, default_controller: bool = True,
             labels: dict[str, str] | None = None, ingress_classes: bool = True, **l4: Any) -> bool:
    ctx = replace(AKO, default_ing_controller=default_controller, l4=replace(AKO.l4, **l4),
                  ingress_classes=ingress_classes)
    return ingress_accepted(ingress=ing, classes=classes, namespace_labels={} if labels is None else labels, ctx=ctx)


def foo(*, class_annotation: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """An Ingress; `class_annotation`: read as v1beta1, with `kubernetes.io/ingress.class` set."""
    body = ingress("foo-with-class", rule("foo.com", path("/foo", "avisvc")), **kwargs)
    return body if class_annotation is None else {**body, "class_annotation": class_annotation}


def test_ingress_of_another_controllers_class_is_ignored_without_error() -> None:
    ing = foo(class_name="nginx")
    assert not accepted(ing, {"nginx": NGINX, "avi-lb": AVI})
    assert not accepted(ing, {"nginx": NGINX}, default_controller=True)


def test_ingress_naming_the_avi_class_is_ours_whatever_the_default() -> None:
    assert accepted(foo(class_name="avi-lb"), {"avi-lb": AVI}, default_controller=False)


def test_ingress_naming_a_class_that_does_not_exist_is_not_ours_yet() -> None:
    assert not accepted(foo(class_name="avi-lb"), {})


def test_ingress_without_class_is_ours_as_default_controller_or_with_a_default_avi_class() -> None:
    assert accepted(foo(), {}, default_controller=True)
    assert not accepted(foo(), {"avi-lb": AVI}, default_controller=False)
    assert accepted(foo(), {"avi-lb": AVI_DEFAULT}, default_controller=False)
    assert not accepted(foo(), {"nginx": NGINX}, default_controller=False)


def test_the_v1beta1_class_annotation_avi_is_ours_and_another_value_is_not_like_ako() -> None:
    for default in (True, False):
        assert accepted(foo(class_annotation="avi"), {"avi-lb": AVI}, default_controller=default)
        assert not accepted(foo(class_annotation="nginx"), {"nginx": NGINX}, default_controller=default)
    # A value naming an Avi IngressClass is ours as well; the class field, when set, decides alone.
    assert accepted(foo(class_annotation="avi-lb"), {"avi-lb": AVI}, default_controller=False)
    assert not accepted(foo(class_annotation="avi-lb"), {}, default_controller=True)
    assert not accepted(foo(class_name="nginx", class_annotation="avi"), {"nginx": NGINX})


def test_without_an_ingress_class_api_only_the_default_and_avi_class_names_decide() -> None:
    # Kubernetes < 1.18: nothing to look a class up in; an Avi default class cannot exist.
    assert accepted(foo(), {}, ingress_classes=False, default_controller=True)
    assert not accepted(foo(), {}, ingress_classes=False, default_controller=False)
    for name in ("avi", "avi-lb"):
        assert accepted(foo(class_annotation=name), {}, ingress_classes=False, default_controller=False)
        assert accepted(foo(class_name=name), {}, ingress_classes=False, default_controller=False)
    assert not accepted(foo(class_annotation="nginx"), {}, ingress_classes=False, default_controller=True)
    assert not accepted(foo(class_name="nginx"), {}, ingress_classes=False, default_controller=True)


def test_namespace_filters_apply_as_for_services() -> None:
    blocked = foo(namespace="kube-system")
    assert not accepted(blocked, {}, blocked_namespaces=frozenset({"kube-system"}))
    assert accepted(foo(), {}, namespace_selector=("app", "web"), labels={"app": "web"})
    assert not accepted(foo(), {}, namespace_selector=("app", "web"), labels={"app": "db"})
    ctx = replace(AKO, l4=replace(AKO.l4, namespace_selector=("app", "web")))
    assert not ingress_accepted(ingress=foo(), classes={}, namespace_labels=None, ctx=ctx)


def test_an_ingress_spans_the_keys_of_all_its_hosts() -> None:
    ing = ingress("multi", rule("foo.com", path("/", "a")), rule("bar.com", path("/", "a")),
                  rule("noo.com", path("/", "a")))
    assert keys_of_ingress(ingress=ing, ctx=AKO) == {"l7:cluster--Shared-L7-0", "l7:cluster--Shared-L7-1"}
    dedicated = replace(AKO, shards=0)
    assert keys_of_ingress(ingress=ing, ctx=dedicated) == {
        "l7:cluster--foo.com-L7-dedicated", "l7:cluster--bar.com-L7-dedicated", "l7:cluster--noo.com-L7-dedicated"}


def test_an_invalid_host_still_has_a_key_so_its_problem_is_reported() -> None:
    ing = ingress("bad", rule("Foo.com", path("/", "a")))
    assert len(keys_of_ingress(ingress=ing, ctx=AKO)) == 1


def test_rule_without_host_uses_ingress_namespace_and_default_domain() -> None:
    ing = ingress("web", rule("", path("/", "a")), namespace="shop")
    ctx = replace(AKO, l4=replace(AKO.l4, default_domain="example.com"))
    assert keys_of_ingress(ingress=ing, ctx=ctx) == {shard_key(cluster="cluster", host="web.shop.example.com",
                                                                shards=8)}


def test_rule_without_host_and_without_default_domain_has_no_key_and_a_problem() -> None:
    ing = ingress("web", rule("", path("/", "a")), namespace="shop")
    ctx = replace(AKO, l4=replace(AKO.l4, default_domain=""))
    assert keys_of_ingress(ingress=ing, ctx=ctx) == frozenset()
    (problem,) = hostless_problems(ingress=ing, ctx=ctx)
    assert (problem.obj.name, problem.field, problem.reason) == ("web", "spec.rules[0].host", "NoHost")
