"""How an accepted L4Rule changes the objects of the Services naming it (AKO's `buildWithL4Rule`).

A Service names its L4Rule in the annotation `ako.vmware.com/l4rule`. `resolve` finds the effect
that applies to it, or the problem that stops it (the Service is then served with the default
properties, as AKO does, and the problem names the annotation):

- the L4Rule does not exist: `L4RuleNotFound`; it exists but is rejected (and has no last good
  effect): `L4RuleNotAccepted`; it exists and is not judged yet: nothing (it will be, at once);
- `listenerProperties` given but not one entry per port of the Service, or SSL asked on a
  Service of more than one port (AKO's `getL4Rule`): `L4RuleListenersMismatch`.

Where the fields go (the virtual service, or the pool of the `backendProperties` entry's port and
protocol; a shared-VIP group takes the VS fields from its oldest Service naming an L4Rule):

- VS: `application_profile_ref` (`System-SSL-Application` instead of the default
  `System-L4-Application` when a listener enables SSL, as AKO), `network_profile_ref`,
  `analytics_profile_ref`, `security_policy_ref`, `network_security_policy_ref`, `ssl_profile_ref`,
  `ssl_key_and_certificate_refs`, `vs_datascripts`, `performance_limits`,
  `analytics_policy.full_client_logs`, and `services[].enable_ssl` of the listener's port;
- pool: `lb_algorithm`, `lb_algorithm_hash`, `lb_algorithm_consistent_hash_hdr` (with the
  custom-header hash only), `health_monitor_refs` (replacing akod's), `application_persistence_profile_ref`,
  `min_servers_up`, `pki_profile_ref`, `ssl_profile_ref`, `ssl_key_and_certificate_ref`,
  `enabled`, `analytics_policy.enable_realtime_metrics`;
- VsVip: `loadBalancerIP`, only when the Service names no address itself (annotation
  `ako.vmware.com/load-balancer-ip` or `spec.loadBalancerIP` win, as in AKO), checked like theirs.

Removing the L4Rule (or the annotation) gives back exactly the bodies without it: the effect is
applied on top of the bodies akod makes anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from akod.model.l4context import annotation_field, service_ref
from akod.model.l4members import ServicePort
from akod.model.l4rule import ANNOTATION, KIND, Backend, L4RuleEffect, named_rule
from akod.model.objects import name_ref
from akod.model.problems import ObjectRef, Problem

DEFAULT_APP_PROFILE = "System-L4-Application"
SSL_APP_PROFILE = "System-SSL-Application"
TCP_PROXY = "System-TCP-Proxy"
VS_FIELDS = (("applicationProfileRef", "application_profile_ref", "applicationprofile"),
             ("networkProfileRef", "network_profile_ref", "networkprofile"),
             ("analyticsProfileRef", "analytics_profile_ref", "analyticsprofile"),
             ("securityPolicyRef", "security_policy_ref", "securitypolicy"),
             ("networkSecurityPolicyRef", "network_security_policy_ref", "networksecuritypolicy"),
             ("sslProfileRef", "ssl_profile_ref", "sslprofile"))
POOL_FIELDS = {"applicationPersistenceProfileRef": ("application_persistence_profile_ref",
                                                    "applicationpersistenceprofile"),
               "pkiProfileRef": ("pki_profile_ref", "pkiprofile"), "sslProfileRef": ("ssl_profile_ref", "sslprofile"),
               "sslKeyAndCertificateRef": ("ssl_key_and_certificate_ref", "sslkeyandcertificate")}
FIELD = annotation_field(ANNOTATION)


@dataclass(frozen=True)
class L4Rules:
    """The L4Rules a translation sees: the accepted effects of those that exist, and the state of the others."""

    effects: Mapping[tuple[str, str], L4RuleEffect] = field(default_factory=dict)
    # (namespace, name) -> (status.status, status.error) of every L4Rule the cluster has now.
    present: Mapping[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.present)


def _problem(service: Mapping[str, Any], reason: str, message: str) -> Problem:
    return Problem(obj=service_ref(service), field=FIELD, reason=reason, message=message)


def resolve(service: Mapping[str, Any], rules: L4Rules | None,
            ports: Sequence[ServicePort]) -> tuple[L4RuleEffect | None, list[Problem]]:
    """The effect acting on `service` (None: the defaults) and why not, when it names one."""
    ident = named_rule(service)
    if ident is None:
        return None, []
    rules = rules or L4Rules()
    shown = f"{ident[0]}/{ident[1]}"
    if ident not in rules.present:
        return None, [_problem(service, "L4RuleNotFound", f"names L4Rule {shown}, which does not exist; the "
                                                          "Service is served with the default properties")]
    effect = rules.effects.get(ident)
    if effect is None:
        status, error = rules.present[ident]
        if status != "Rejected":
            return None, []  # not judged yet: it is, right after this
        return None, [_problem(service, "L4RuleNotAccepted", f"names L4Rule {shown}, which is Rejected ({error}); "
                                                             "the Service is served with the default properties")]
    if effect.listeners:
        mine = {(p.port, p.protocol) for p in ports}
        listed = {(li.port, li.protocol) for li in effect.listeners}
        why = ""
        if len(effect.listeners) != len(ports):
            why = (f"its listenerProperties list {len(effect.listeners)} port(s), the Service has {len(ports)}")
        elif effect.ssl and len(ports) > 1:
            why = "it enables SSL but the Service has more than one port"
        elif mine - listed:
            port, protocol = sorted(mine - listed)[0]
            why = f"{protocol} port {port} of the Service is not in its listenerProperties"
        if why:
            return None, [_problem(service, "L4RuleListenersMismatch",
                                   f"L4Rule {shown} cannot apply: {why}; the Service is served with the default "
                                   "properties")]
    return effect, []


def apply_to_vs(body: dict[str, Any], effect: L4RuleEffect | None) -> tuple[dict[str, Any], list[str]]:
    """The VS body with the VS fields of `effect`, and the fields that could not apply (warned about)."""
    if effect is None:
        return body, []
    current_profile = str(body.get("network_profile_ref") or "")
    if effect.ssl and not current_profile.endswith(f"name={TCP_PROXY}"):
        # AKO's buildWithL4Rule: SSL needs the TCP proxy profile the licence gives (ENTERPRISE).
        return body, ["spec.listenerProperties (SSL needs the System-TCP-Proxy network profile: an ENTERPRISE "
                      "licence)"]
    body = dict(body)
    for crd_field, avi_field, obj_type in VS_FIELDS:
        name = effect.ref_of(crd_field)
        if crd_field == "applicationProfileRef" and effect.ssl and name in ("", DEFAULT_APP_PROFILE):
            name = SSL_APP_PROFILE
        if name:
            body[avi_field] = name_ref(obj_type, name)
    if effect.certificates:
        body["ssl_key_and_certificate_refs"] = [name_ref("sslkeyandcertificate", c) for c in effect.certificates]
    if effect.datascripts:
        body["vs_datascripts"] = [{"index": i, "vs_datascript_set_ref": name_ref("vsdatascriptset", n)}
                                  for i, n in enumerate(effect.datascripts)]
    limits = {k: v for k, v in (("max_concurrent_connections", effect.max_connections),
                                ("max_throughput", effect.max_throughput)) if v is not None}
    if limits:
        body["performance_limits"] = limits
    if effect.full_client_logs is not None:
        body["analytics_policy"] = {"full_client_logs": dict(effect.full_client_logs)}
    if effect.listeners:
        ssl_ports = {li.port for li in effect.listeners if li.enable_ssl}
        body["services"] = [{**entry, "enable_ssl": entry.get("port") in ssl_ports}
                            for entry in body.get("services") or []]
    return body, []


def apply_to_pool(body: dict[str, Any], backend: Backend | None) -> dict[str, Any]:
    """The pool body with the `backendProperties` entry of its port and protocol."""
    if backend is None:
        return body
    body = dict(body)
    if backend.lb_algorithm:
        body["lb_algorithm"] = backend.lb_algorithm
    if backend.lb_algorithm_hash:
        body["lb_algorithm_hash"] = backend.lb_algorithm_hash
    if backend.hash_header:
        body["lb_algorithm_consistent_hash_hdr"] = backend.hash_header
    if backend.health_monitors:
        body["health_monitor_refs"] = [name_ref("healthmonitor", n) for n in backend.health_monitors]
    for crd_field, name in backend.refs:
        avi_field, obj_type = POOL_FIELDS[crd_field]
        body[avi_field] = name_ref(obj_type, name)
    if backend.min_servers_up is not None:
        body["min_servers_up"] = backend.min_servers_up
    if backend.enabled is not None:
        body["enabled"] = backend.enabled
    if backend.realtime_metrics is not None:
        body["analytics_policy"] = {"enable_realtime_metrics": backend.realtime_metrics}
    return body


def unmatched_backends(effect: L4RuleEffect, ports: Iterable[ServicePort]) -> list[str]:
    """The `backendProperties` entries no port of the Service has (AKO logs a warning)."""
    mine = {(p.port, p.protocol) for p in ports}
    return [f"spec.backendProperties[{b.index}] ({b.protocol} {b.port}: no such port on the Service)"
            for b in effect.backends if (b.port, b.protocol) not in mine]


def rule_ref(effect: L4RuleEffect) -> ObjectRef:
    return ObjectRef(kind=KIND, namespace=effect.ref.namespace, name=effect.ref.name)
