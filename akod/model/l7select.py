"""Which Ingresses are akod's, and the keys (shards) their hosts are kept under.

An Ingress is akod's when its namespace is accepted (as for L4 Services: not blocked, labelled as
the namespace selector asks) and its class is: `ingressClassName` naming an IngressClass whose
controller is `ako.vmware.com/avi-lb`, or no class at all while `[l7] default_ing_controller` is
on or an Avi IngressClass is marked as the cluster's default (AKO's `ValidateIngressForClass`,
scenario 26). A class that does not exist (yet) is not ours: the Ingress is picked up when the
class appears.

Ingresses read as v1beta1 (Kubernetes 1.18) may carry the older class annotation
`kubernetes.io/ingress.class` instead (their trimmed body has `class_annotation`). Without
`ingressClassName` it decides as AKO's `filterIngressOnClassAnnotation` does: `avi` is ours whatever
`default_ing_controller` says, any other value is another controller's; a value naming an Avi
IngressClass is ours too. On a server with no IngressClass API at all (`L7Context.ingress_classes`
false: nothing to look a class up in), the class name, from the field or the annotation, is
matched by name: `avi` (AKO's annotation value) or `avi-lb` (the class AKO's Helm chart creates)
are ours, any other name is not, and an Ingress without a class is ours only if
`default_ing_controller` is on.

One Ingress may span several keys: one per shard its hosts land on. Every host the rules name
counts, valid or not, so that the problem of an invalid host is reported by the key that would
have served it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from akod.model.l4select import namespace_accepted
from akod.model.l7context import AVI_INGRESS_CONTROLLER, L7Context
from akod.model.l7hosts import parse_ingress
from akod.model.l7names import shard_key


# AKO's value of the class annotation (`lib.AVI_INGRESS_CLASS`) and its Helm chart's class name.
AVI_CLASS_ANNOTATION = "avi"
AVI_CLASS_NAMES = frozenset({AVI_CLASS_ANNOTATION, "avi-lb"})


def _is_avi(ingress_class: Mapping[str, Any] | None) -> bool:
    return ingress_class is not None and ingress_class.get("controller") == AVI_INGRESS_CONTROLLER


def ingress_accepted(*, ingress: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]],
                     namespace_labels: Mapping[str, str] | None, ctx: L7Context) -> bool:
    """True for an Ingress akod serves; `classes` are trimmed IngressClasses by name."""
    namespace = str(ingress.get("namespace", ""))
    if not namespace_accepted(namespace=namespace, namespace_labels=namespace_labels, ctx=ctx.l4):
        return False
    class_name = str(ingress.get("class_name") or "")
    annotation = str(ingress.get("class_annotation") or "")
    if not ctx.ingress_classes:
        named = class_name or annotation
        return named in AVI_CLASS_NAMES if named else ctx.default_ing_controller
    if class_name:
        return _is_avi(classes.get(class_name))
    if annotation:
        return annotation == AVI_CLASS_ANNOTATION or _is_avi(classes.get(annotation))
    return ctx.default_ing_controller or any(_is_avi(c) and c.get("is_default") for c in classes.values())


def keys_of_ingress(*, ingress: Mapping[str, Any], ctx: L7Context) -> frozenset[str]:
    """The keys of the shards (or dedicated virtual services) of the hosts of an Ingress."""
    hosts = parse_ingress(ingress=ingress, ctx=ctx).hosts
    return frozenset(shard_key(cluster=ctx.cluster, host=host, shards=ctx.shards, infra=ctx.infra)
                     for host in hosts)
