"""How an accepted HostRule changes the objects that serve its host (AKO's `BuildL7HostRule`).

Where each field applies:

- the **SNI child** of a TLS host (shared mode) and the **dedicated VS** (DEDICATED mode) take
  every applied field: `enableVirtualHost` (`enabled`), `tls.sslKeyCertificate` and its
  `alternateCertificate` of `type: ref` (`ssl_key_and_certificate_refs`, replacing the certificate
  akod makes from the Ingress's Secret), a `tls.sslKeyCertificate` of `type: secret` (the
  certificate akod makes for the host comes from that Secret, in the HostRule's namespace, instead
  of the Ingress's; an invalid or missing one rejects the HostRule and the Ingress's stays), `tls.sslProfile`, `wafPolicy`, `applicationProfile`,
  `analyticsProfile`, `errorPageProfile`, `icapProfile`, `httpPolicy.policySets` (after akod's own
  policy sets, or instead of them with `overwrite: true`), `datascripts` and `analyticsPolicy`
  (`analytics_policy`);
- `networkSecurityPolicy` (`network_security_policy_ref`) and `tcpSettings` (the listeners as the
  VS's `services`, `loadBalancerIP` as its VsVip's static address, which must be in the VIP
  network) apply to the **dedicated VS** only: an SNI child shares its parent's listener, and akod's
  shared parents serve many hosts, so there they are not applied (a warning Event);
- a **plain host on a shared parent** has no virtual service of its own: there `enableVirtualHost:
  false` leaves the host's rules out of the shard's policy set (it is not served), and a
  certificate of `type: ref` makes it a TLS host (an SNI child with that certificate), as in AKO;
  the other fields cannot apply there and are named in the warning Event;
- `aliases` are more names of the host: the SNI child's `vh_domain_name`, the host header
  matches of the host's rules (the SNI child's, the dedicated VS's, and the host's rules on the
  shard: its redirect to HTTPS, or a plain host's paths) and the VsVip's DNS info;
- `gslb.fqdn` (kept for AMKO) is added to the DNS info (`dns_info`) of the VsVip that serves the
  host (the shard's, or the dedicated VS's).

Removing a HostRule gives back exactly the bodies without it: the effect is applied on top of the
bodies akod makes anyway, so nothing is left behind.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from akod.model.hostrule import HostRuleEffect
from akod.model.objects import AviObject, name_ref
from akod.model.nodes import IPAddress, IPNetwork

POLICY_INDEX = 11  # as `l7bodies.POLICY_INDEX`: AKO's first http_policies index
DATASCRIPT_INDEX = 0

# Fields that apply only to a virtual service of the host's own (SNI child, dedicated VS).
VS_ONLY = ("sslProfile", "wafPolicy", "applicationProfile", "analyticsProfile", "errorPageProfile", "icapProfile",
           "httpPolicy.policySets", "datascripts", "analyticsPolicy", "networkSecurityPolicy")


def apply_to_vs(obj: AviObject, effect: HostRuleEffect | None, *, dedicated: bool = False) -> AviObject:
    """`obj` (an SNI child or, `dedicated`, a dedicated VS) with `effect` applied (unchanged when None)."""
    if effect is None:
        return obj
    body = dict(obj.body)
    if effect.enabled is not None:
        body["enabled"] = effect.enabled
    if effect.secret_certificate:  # the first one is made from the Secret; an alternate `ref` follows it
        first = list(body.get("ssl_key_and_certificate_refs") or [])[:1]
        body["ssl_key_and_certificate_refs"] = first + [name_ref("sslkeyandcertificate", c) for c in effect.certificates]
    elif effect.certificates:
        body["ssl_key_and_certificate_refs"] = [name_ref("sslkeyandcertificate", c) for c in effect.certificates]
    refs = (("ssl_profile_ref", "sslprofile", effect.ssl_profile), ("waf_policy_ref", "wafpolicy", effect.waf_policy),
            ("application_profile_ref", "applicationprofile", effect.application_profile),
            ("analytics_profile_ref", "analyticsprofile", effect.analytics_profile),
            ("error_page_profile_ref", "errorpageprofile", effect.error_page_profile))
    for key, obj_type, name in refs:
        if name:
            body[key] = name_ref(obj_type, name)
    if effect.icap_profile:
        body["icap_request_profile_refs"] = [name_ref("icapprofile", effect.icap_profile)]
    if effect.policy_sets or effect.overwrite:
        own = [] if effect.overwrite else list(body.get("http_policies") or [])
        start = max((int(p.get("index", 0)) for p in own), default=POLICY_INDEX - 1) + 1
        body["http_policies"] = own + [{"index": start + i, "http_policy_set_ref": name_ref("httppolicyset", n)}
                                       for i, n in enumerate(effect.policy_sets)]
    if effect.datascripts:
        body["vs_datascripts"] = [{"index": DATASCRIPT_INDEX + i, "vs_datascript_set_ref": name_ref("vsdatascriptset", n)}
                                  for i, n in enumerate(effect.datascripts)]
    analytics = effect.analytics_body()
    if analytics is not None:
        body["analytics_policy"] = analytics
    if effect.aliases and "vh_domain_name" in body:
        body["vh_domain_name"] = [*body["vh_domain_name"], *effect.aliases]
    if dedicated and effect.network_security_policy:
        body["network_security_policy_ref"] = name_ref("networksecuritypolicy", effect.network_security_policy)
    if dedicated and effect.listeners:
        body["services"] = [{"port": port, "enable_ssl": True} if ssl else {"port": port}
                            for port, ssl in effect.listeners]
    return dataclasses.replace(obj, body=body)


PLAIN_HOST = ("a plain (non-TLS) host on a shared virtual service has no virtual service of its own "
              "(give the host TLS or use DEDICATED mode)")
SNI_CHILD = "an SNI child shares its parent's listener (use DEDICATED mode)"


def _listener_fields(effect: HostRuleEffect) -> list[str]:
    return [f"spec.virtualhost.tcpSettings.{k}" for k, v in (("listeners", effect.listeners),
                                                               ("loadBalancerIP", effect.load_balancer_ip)) if v]


def not_on_sni_child(effect: HostRuleEffect) -> list[str]:
    """The fields of `effect` that cannot apply to an SNI child (its parent owns the listener), with why."""
    fields = ["spec.virtualhost.networkSecurityPolicy"] if effect.network_security_policy else []
    return [f"{f}: {SNI_CHILD}" for f in fields + _listener_fields(effect)]


def preferred_vip(effect: HostRuleEffect | None, *, cidr: IPNetwork | None,
                  network: str) -> tuple[IPAddress | None, list[str]]:
    """A dedicated VS's static VIP from `tcpSettings.loadBalancerIP`, or why it is not applied."""
    if effect is None or not effect.load_balancer_ip:
        return None, []
    address = ipaddress.ip_address(effect.load_balancer_ip)
    if cidr is None or address.version != cidr.version or address not in cidr:
        return None, [f"spec.virtualhost.tcpSettings.loadBalancerIP: {address} is outside the VIP network "
                      f"{network} ({cidr}); the VIP is allocated as without it"]
    return address, []


def not_on_plain_host(effect: HostRuleEffect) -> list[str]:
    """The fields of `effect` that cannot apply to a plain host on a shared parent."""
    used = {"sslProfile": effect.ssl_profile, "wafPolicy": effect.waf_policy,
            "applicationProfile": effect.application_profile, "analyticsProfile": effect.analytics_profile,
            "errorPageProfile": effect.error_page_profile, "icapProfile": effect.icap_profile,
            "httpPolicy.policySets": effect.policy_sets, "datascripts": effect.datascripts,
            "analyticsPolicy": effect.analytics_policy, "networkSecurityPolicy": effect.network_security_policy}
    return [f"spec.virtualhost.{k}: {PLAIN_HOST}" for k in VS_ONLY if used.get(k)] + [
        f"{f}: {PLAIN_HOST}" for f in _listener_fields(effect)]


def dns_names(hosts: list[str], effects: list[HostRuleEffect]) -> list[str]:
    """The VsVip's FQDNs: the hosts served, and the GSLB FQDN and aliases of each HostRule acting on one."""
    return sorted(set(hosts) | {e.gslb_fqdn for e in effects if e.gslb_fqdn} | {a for e in effects for a in e.aliases})


def with_aliases(rules: list[dict[str, Any]], effect: HostRuleEffect | None) -> list[dict[str, Any]]:
    """`rules` of one host whose host header matches also take the HostRule's aliases."""
    if effect is None or not effect.aliases:
        return rules
    out = []
    for rule in rules:
        match = rule.get("match") or {}
        host_hdr = match.get("host_hdr")
        if host_hdr is None:
            out.append(rule)
            continue
        values = [*host_hdr.get("value", []), *(a for a in effect.aliases if a not in host_hdr.get("value", []))]
        out.append({**rule, "match": {**match, "host_hdr": {**host_hdr, "value": values}}})
    return out


def describe_effect(effect: HostRuleEffect) -> dict[str, Any]:
    return {"kind": "HostRule", "namespace": effect.ref.namespace, "name": effect.ref.name, **effect.describe()}
