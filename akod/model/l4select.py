"""Which Services become L4 virtual services, and the key their objects are kept under.

A Service is akod's when it is of type LoadBalancer, its class is akod's (`ako.vmware.com/avi-lb`,
or none at all while `default_lb_controller` is on), and its namespace is accepted (not blocked,
and labelled as the namespace selector asks). The same tests as AKO's `ValidateSvcforClass` and
namespace filters (reference §1.5, §2).

The key is `l4:` + the virtual service name, so all Services of one shared-VIP group meet under
one key and a Service moving in or out of a group changes key: the sync layer then rebuilds the
old key (now without it) and the new one. Decision: a namespace the caller does not know
(`namespace_labels` None) is not selected while a selector is set, so an object is never created
on a guess and later withdrawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from akod.model.l4context import AVI_LB_CLASS, KEY_PREFIX, L4Context, shared_vip_key
from akod.model.l4names import vs_name


def namespace_accepted(*, namespace: str, namespace_labels: Mapping[str, str] | None, ctx: L4Context) -> bool:
    if namespace in ctx.blocked_namespaces:
        return False
    if ctx.namespace_selector is None:
        return True
    if namespace_labels is None:
        return False
    key, value = ctx.namespace_selector
    return namespace_labels.get(key) == value


def class_accepted(*, service: Mapping[str, Any], ctx: L4Context) -> bool:
    lb_class = str(service.get("load_balancer_class") or "")
    if lb_class:
        return lb_class == AVI_LB_CLASS
    return ctx.default_lb_controller


def l4_key(*, service: Mapping[str, Any], namespace_labels: Mapping[str, str] | None, ctx: L4Context) -> str | None:
    """`l4:<vs name>` for a Service akod serves, None for any other Service."""
    if service.get("type") != "LoadBalancer":
        return None
    if not class_accepted(service=service, ctx=ctx):
        return None
    namespace = str(service.get("namespace", ""))
    if not namespace_accepted(namespace=namespace, namespace_labels=namespace_labels, ctx=ctx):
        return None
    return KEY_PREFIX + service_vs_name(service=service, cluster=ctx.cluster)


def service_vs_name(*, service: Mapping[str, Any], cluster: str) -> str:
    """The virtual service a Service belongs to: its own, or its shared-VIP group's."""
    group = shared_vip_key(service)
    return vs_name(cluster=cluster, namespace=str(service.get("namespace", "")),
                   name=group or str(service.get("name", "")))


def vs_name_of_key(key: str) -> str:
    return key.removeprefix(KEY_PREFIX)
