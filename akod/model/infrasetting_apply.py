"""Which AviInfraSetting acts on an Ingress or a Service, and the translation context it gives.

An Ingress takes the AviInfraSetting its IngressClass names in `spec.parameters` ({apiGroup
`ako.vmware.com`, kind `AviInfraSetting`, name}); an Ingress without a class, the one of the Avi
IngressClass marked as the cluster's default. A LoadBalancer Service takes the one its annotation
`aviinfrasetting.ako.vmware.com/name` names. Without either, the one that annotation names on the
object's Namespace (AKO's namespace-scoped AviInfraSetting; AKO keeps the default names there, each
namespace being its own tenant; akod, with one tenant, gives them the infra's shards too).

What the named AviInfraSetting's state does (decided here, pure):

- accepted (now, or before and since edited into something invalid: its last accepted spec is
  kept, as for every CR): the objects get its context. `l7_context`/`l4_context` replace, in the
  contexts the bodies are built from, the SE group, the VIP network and its subnet, the VRF (the
  VIP network's: a VsVip lives in the VRF of its network, so does its VS and the pools), the pool
  placement networks, `enableRhi`/`bgpPeerLabels`, the listeners and the shard count; and the L7
  context carries the infra's name, which names its shards and objects (`l7names`), so two
  classes never share a VIP;
- it exists but is not accepted (Rejected, or not judged yet): the Ingress is held back (not
  served anywhere, an object error naming the IngressClass field); the Service is held (what is
  applied stays), with an object error naming the annotation. Neither is put on another VIP;
- it does not exist (never created, or deleted): nothing acts, the objects get the defaults, as
  AKO's L4 does; so deleting an AviInfraSetting moves its objects back to the default shards.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from typing import Any

from akod.model.infrasetting import ANNOTATION, API_GROUP, KIND, InfraEffect
from akod.model.l4context import L4Context, annotation_field, service_annotations, service_ref
from akod.model.l7context import L7Context, ingress_ref
from akod.model.problems import Problem

CONTROLLER = "ako.vmware.com/avi-lb"


def class_of(ingress: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]]) -> str:
    """The IngressClass that governs an Ingress: its own, else the default Avi class ("" = none)."""
    name = str(ingress.get("class_name") or "")
    if name:
        return name
    return next((n for n, c in sorted(classes.items()) if c.get("controller") == CONTROLLER and c.get("is_default")),
                "")


def class_infra(ingress_class: Mapping[str, Any] | None) -> str:
    """The AviInfraSetting an IngressClass names in `spec.parameters` ("" = none)."""
    params = (ingress_class or {}).get("parameters") or {}
    if params.get("api_group") == API_GROUP and params.get("kind") == KIND:
        return str(params.get("name") or "")
    return ""


def ingress_infra(ingress: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]],
                  namespace_infra: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(AviInfraSetting name, the IngressClass naming it) for an Ingress; ("", "") for none. Without
    one from the class, the Namespace's annotation (then the class is "")."""
    cls = class_of(ingress, classes)
    name = class_infra(classes.get(cls)) if cls else ""
    if name:
        return name, cls
    from_namespace = (namespace_infra or {}).get(str(ingress.get("namespace", "")), "")
    return (from_namespace, "") if from_namespace else ("", "")


def service_infra(service: Mapping[str, Any], namespace_infra: Mapping[str, str] | None = None) -> str:
    """The AviInfraSetting a Service's annotation names, else its Namespace's annotation ("" = none)."""
    own = str(service.get("infra_setting") or service_annotations(service).get(ANNOTATION) or "").strip()
    return own or (namespace_infra or {}).get(str(service.get("namespace", "")), "")


class InfraSettings:
    """The accepted effects by name, and the AviInfraSettings that exist now (name -> body)."""

    def __init__(self, effects: Mapping[str, InfraEffect] | None = None,
                 present: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.effects = dict(effects or {})
        self.present = dict(present or {})

    def resolve(self, name: str) -> tuple[InfraEffect | None, str]:
        """(effect, "") when it acts; (None, why) when it holds its objects back; (None, "") for defaults."""
        if not name or name not in self.present:
            return None, ""
        effect = self.effects.get(name)
        if effect is not None:
            return effect, ""
        status = self.present[name].get("status") or {}
        error = str(status.get("error") or "")
        return None, (f"is Rejected: {error}" if status.get("status") == "Rejected" and error
                      else "is not accepted (yet)")


def l4_context(base: L4Context, effect: InfraEffect | None) -> L4Context:
    """`base` with what `effect` places differently (unchanged when None)."""
    if effect is None:
        return base
    changes: dict[str, Any] = {"enable_rhi": effect.enable_rhi,
                               "bgp_peer_labels": effect.bgp_peer_labels if effect.enable_rhi else ()}
    if effect.se_group:
        changes["se_group"] = effect.se_group
    if effect.vip_networks:
        vip = effect.vip_networks[0]
        changes.update(vip_network=vip.name, vrf=effect.vrf or base.vrf,
                       vip_cidr=ipaddress.ip_network(vip.cidr, strict=False) if vip.cidr else None,
                       vip_v6cidr=ipaddress.ip_network(vip.v6cidr, strict=False) if vip.v6cidr else None)
    if effect.node_networks:
        changes["node_networks"] = tuple((n.name, n.cidrs) for n in effect.node_networks)
    return dataclasses.replace(base, **changes)


def l7_context(base: L7Context, effect: InfraEffect | None, *, name: str = "") -> L7Context:
    """`base` for the objects of an AviInfraSetting's class (`name` alone: its objects, effect gone)."""
    if effect is None:
        return dataclasses.replace(base, infra=name) if name else base
    shards = effect.shards
    return dataclasses.replace(
        base, l4=l4_context(base.l4, effect), shards=base.shards if shards is None else shards, infra=effect.name,
        listeners=tuple((li.port, li.enable_ssl, li.enable_http2) for li in effect.listeners))


def held_ingress(ingress: Mapping[str, Any], *, class_name: str, infra: str, why: str) -> Problem:
    if not class_name:  # named by the Namespace's annotation
        return Problem(obj=ingress_ref(ingress), field="metadata.namespace", reason="AviInfraSettingNotAccepted",
                       message=f"Namespace {ingress.get('namespace', '')} annotation {ANNOTATION} names "
                               f"AviInfraSetting {infra}, which {why}; the Ingress is not served until it is accepted")
    return Problem(obj=ingress_ref(ingress), field="spec.ingressClassName", reason="AviInfraSettingNotAccepted",
                   message=f"IngressClass {class_name} spec.parameters.name names AviInfraSetting {infra}, which "
                           f"{why}; the Ingress is not served until it is accepted")


def held_service(service: Mapping[str, Any], *, infra: str, why: str, own: bool = True) -> Problem:
    where = annotation_field(ANNOTATION) if own else "metadata.namespace"
    whose = "" if own else f" (named by Namespace {service.get('namespace', '')}'s annotation {ANNOTATION})"
    return Problem(obj=service_ref(service), field=where, reason="AviInfraSettingNotAccepted",
                   message=f"AviInfraSetting {infra}{whose} {why}; the Service keeps what it has until it is accepted")
