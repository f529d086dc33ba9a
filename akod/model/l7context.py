"""What an L7 translation needs besides the Kubernetes objects, and what it returns.

An `L7Context` wraps the `L4Context` of the same cluster (tenant, cloud, VRF, SE group, VIP
network, default domain, ClusterIP or NodePort backends, namespace filters: one set of settings
for both) and adds the shard count, whether Ingresses without a class are akod's (and whether the
server has IngressClasses at all), and the time used to judge certificate validity, injected so
that a translation stays a pure function.

`L7Result.served` is what the status write-back needs: for every Ingress of the key, the hosts it
serves there and the virtual service that serves each (the SNI child of a TLS host, the shared or
dedicated VS otherwise). The status IP is the VIP of `vs_name`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from akod.model.l4context import L4Context
from akod.model.objects import AviObject
from akod.model.problems import ObjectRef, Problem

AVI_INGRESS_CONTROLLER = "ako.vmware.com/avi-lb"


@dataclass(frozen=True)
class L7Context:
    """Settings and controller facts that shape every L7 virtual service of one cluster."""

    l4: L4Context
    shards: int  # 8, 4, 1; 0 = DEDICATED (one virtual service per host)
    default_ing_controller: bool
    now: dt.datetime  # certificate validity is judged at this instant
    # False when the server serves no IngressClass API (Kubernetes < 1.18): classes are then
    # matched by name, as AKO matches its class annotation (`akod.model.l7select`).
    ingress_classes: bool = True
    # The AviInfraSetting of the objects this context builds ("" = none): it names their shards
    # and objects (`l7names`), and `l4` carries its SE group and networks (`infrasetting_apply`).
    infra: str = ""
    # `spec.network.listeners` of that AviInfraSetting: (port, enable_ssl, enable_http2) of the
    # shard (or dedicated) VS, merged with its own ports 80 and 443.
    listeners: tuple[tuple[int, bool, bool], ...] = ()

    @property
    def cluster(self) -> str:
        return self.l4.cluster

    @property
    def tenant(self) -> str:
        return self.l4.tenant

    @property
    def created_by(self) -> str:
        return self.l4.created_by

    @property
    def dedicated(self) -> bool:
        return self.shards <= 0


class ServedHost(NamedTuple):
    """A host an Ingress is served on, and the virtual service that serves it."""

    host: str
    vs_name: str


# What the sync layer can leave out of a key when the controller refuses it: the paths of one
# Ingress for one host, (namespace, Ingress, host).
Unit = tuple[str, str, str]


@dataclass(frozen=True)
class L7Result:
    """The objects of one L7 key in RANK order (empty: the key must not exist) and why not more.

    `units` says which units each object is made for ((type, name) -> units; the shard's shared
    VsVip, VS and policy set are made for none), `rule_groups` the name of each host's group of
    rules in the shard policy set (`<host>|<checksum>`), and `unit_fields` the rule of each unit
    (`spec.rules[i].host`): what the sync layer needs to find and name a unit the controller refuses.
    """

    objects: tuple[AviObject, ...]
    problems: tuple[Problem, ...]
    # (namespace, Ingress) -> its hosts served under this key; every Ingress given has an entry.
    served: Mapping[tuple[str, str], tuple[ServedHost, ...]]
    vs_name: str  # the shared (or dedicated) virtual service of the key: its VIP is the status IP
    units: Mapping[tuple[str, str], frozenset[Unit]] = field(default_factory=dict)
    rule_groups: Mapping[str, str] = field(default_factory=dict)
    unit_fields: Mapping[Unit, str] = field(default_factory=dict)
    # host -> the HostRule acting on it under this key (what `/objects` lists as acting on it).
    host_rules: Mapping[str, ObjectRef] = field(default_factory=dict)
    # HostRule -> the fields it sets that a plain host on a shared VS cannot take (warned about).
    hostrule_not_applied: Mapping[ObjectRef, tuple[str, ...]] = field(default_factory=dict)
    # host -> the HTTPRules acting on its pools under this key (`/objects`, `akod plan`).
    http_rules: Mapping[str, tuple[ObjectRef, ...]] = field(default_factory=dict)


class SecretLike(Protocol):
    """A trimmed Secret (`Observed`): `body` without material, the decoded PEM in `material`."""

    @property
    def body(self) -> dict[str, Any]: ...

    @property
    def material(self) -> Mapping[str, str] | None: ...


def ingress_ref(ingress: Mapping[str, Any]) -> ObjectRef:
    return ObjectRef(kind="Ingress", namespace=str(ingress.get("namespace", "")), name=str(ingress.get("name", "")))


def ingress_age(ingress: Mapping[str, Any]) -> tuple[str, str, str]:
    """Oldest first: creation time, then namespace and name (a total order for equal timestamps)."""
    return (str(ingress.get("created") or "~"), str(ingress.get("namespace", "")), str(ingress.get("name", "")))
