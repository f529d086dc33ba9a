"""HostRule (`ako.vmware.com/v1beta1`): a spec read into the effect akod applies, and its verdict.

A HostRule names a host (`spec.virtualhost.fqdn`, matched `Exact`, `Wildcard` or `Contains` as
`fqdnType` says) and the Avi properties of the virtual service that serves it. This module reads
the trimmed CR body (`akod.kube.trimming.trim_custom_resource`) into a `HostRuleEffect` and a
`Verdict`: the field errors that reject it (AKO's `ValidateHostRuleObj` checks, each naming its
field), the Avi objects it names (checked on the controller by the sync layer), and the fields it
uses that akod does not apply yet (accepted, with a warning Event naming each).

Two HostRules for one FQDN: the older (creation time, then namespace and name) keeps it and the
other is rejected naming `spec.virtualhost.fqdn`; unlike AKO, whose choice may flip after a
restart, the order is total and stable (`winners`).

`HostRules` answers, for a host, the effect that applies to it: an `Exact` HostRule first, then
the oldest `Wildcard` or `Contains` one that matches. How an effect changes the objects is in
`hostrule_apply`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from akod.model.crs import AviRef, Verdict, cr_age, cr_ref, text
from akod.model.problems import ObjectRef, Problem, quoted

KIND = "HostRule"
FQDN_TYPES = ("Exact", "Wildcard", "Contains")
VH = "spec.virtualhost"

# The Avi types of the refs a HostRule names (and how the controller names them in messages).
REF_FIELDS: tuple[tuple[str, str], ...] = (
    ("wafPolicy", "wafpolicy"),
    ("applicationProfile", "applicationprofile"),
    ("analyticsProfile", "analyticsprofile"),
    ("errorPageProfile", "errorpageprofile"),
    ("networkSecurityPolicy", "networksecuritypolicy"),
)
MODELS = {
    "wafpolicy": "WafPolicy", "applicationprofile": "ApplicationProfile", "analyticsprofile": "AnalyticsProfile",
    "errorpageprofile": "ErrorPageProfile", "sslprofile": "SSLProfile", "sslkeyandcertificate": "SSLKeyAndCertificate",
    "icapprofile": "IcapProfile", "httppolicyset": "HTTPPolicySet", "vsdatascriptset": "VSDataScriptSet",
    "networksecuritypolicy": "NetworkSecurityPolicy",
}
# Fields of `spec.virtualhost` akod reads but does not apply yet: a CR using one is accepted with a
# warning naming it (README "HostRule": not supported).
# `gslb.includeAliases` is not here: AMKO reads it from the HostRule itself; AKO does nothing with it either.
UNSUPPORTED = ("l7Rule", "useRegex", "applicationRootPath", "tls.termination")
# `analyticsPolicy.fullClientLogs.throttle` -> the Avi `full_client_logs.throttle` (AKO's `lib.GetThrottle`).
THROTTLES = {"HIGH": 10, "MEDIUM": 30, "LOW": 50, "DISABLED": 0}
KNOWN = frozenset({"fqdn", "fqdnType", "enableVirtualHost", "tls", "wafPolicy", "applicationProfile",
                   "analyticsProfile", "errorPageProfile", "icapProfile", "httpPolicy", "datascripts", "gslb",
                   "aliases", "analyticsPolicy", "tcpSettings", "networkSecurityPolicy", "l7Rule", "useRegex",
                   "applicationRootPath"})


@dataclass(frozen=True)
class HostRuleEffect:
    """What one accepted HostRule does to the virtual service of the hosts it matches."""

    ref: ObjectRef
    age: tuple[str, str, str]
    fqdn: str
    fqdn_type: str = "Exact"
    enabled: bool | None = None
    certificates: tuple[str, ...] = ()  # Avi certificates by name (`type: ref`), the alternate second
    # `tls.sslKeyCertificate` of `type: secret`: a kubernetes.io/tls Secret in the HostRule's
    # namespace, made into the host's certificate instead of the Ingress's (AKO's DummySecretK8s).
    secret_certificate: str = ""
    ssl_profile: str = ""
    waf_policy: str = ""
    application_profile: str = ""
    analytics_profile: str = ""
    error_page_profile: str = ""
    icap_profile: str = ""
    policy_sets: tuple[str, ...] = ()
    overwrite: bool = False
    datascripts: tuple[str, ...] = ()
    gslb_fqdn: str = ""
    network_security_policy: str = ""  # the dedicated VS only (AKO: not on an SNI child)
    aliases: tuple[str, ...] = ()  # more names of the host (SNI child, dedicated VS), `Exact` only
    # `tcpSettings`: the dedicated VS's listeners (port, enableSSL) and its VIP's static address.
    listeners: tuple[tuple[int, bool], ...] = ()
    load_balancer_ip: str = ""
    # The VS's `analytics_policy` as AKO builds it from `analyticsPolicy` (None: not set).
    analytics_policy: tuple[tuple[str, Any], ...] | None = None

    def analytics_body(self) -> dict[str, Any] | None:
        return {k: dict(v) if isinstance(v, tuple) else v for k, v in self.analytics_policy} \
            if self.analytics_policy is not None else None

    def matches(self, host: str) -> bool:
        host, fqdn = host.lower(), self.fqdn.lower()
        if self.fqdn_type == "Exact":
            return host == fqdn
        if self.fqdn_type == "Contains":
            return fqdn in host
        # Wildcard, as AKO: `*.foo.com` matches every host ending in `.foo.com`.
        suffix = fqdn.lstrip("*")
        return host.endswith(suffix) and host != suffix.lstrip(".")

    def describe(self) -> dict[str, Any]:
        """The effect as `akod plan` and `/objects` show it (only what it sets)."""
        shown = {"fqdn": self.fqdn, "fqdnType": self.fqdn_type, "enableVirtualHost": self.enabled,
                 "sslKeyCertificates": list(self.certificates), "sslKeyCertificateSecret": self.secret_certificate,
                 "sslProfile": self.ssl_profile,
                 "wafPolicy": self.waf_policy, "applicationProfile": self.application_profile,
                 "analyticsProfile": self.analytics_profile, "errorPageProfile": self.error_page_profile,
                 "icapProfile": self.icap_profile, "httpPolicySets": list(self.policy_sets),
                 "overwrite": self.overwrite or None, "datascripts": list(self.datascripts),
                 "gslbFqdn": self.gslb_fqdn, "networkSecurityPolicy": self.network_security_policy,
                 "analyticsPolicy": self.analytics_body(), "aliases": list(self.aliases),
                 "listeners": [{"port": p, "enableSSL": ssl} for p, ssl in self.listeners],
                 "loadBalancerIP": self.load_balancer_ip}
        return {k: v for k, v in shown.items() if v not in (None, "", [])}


def _problem(obj: ObjectRef, where: str, message: str, reason: str = "InvalidField") -> Problem:
    return Problem(obj=obj, field=f"{VH}.{where}" if where else VH, reason=reason, message=message)


def _names(value: Any, *, obj: ObjectRef, where: str, problems: list[Problem]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.append(_problem(obj, where, f"must be a list of Avi object names, not {quoted(value)}"))
        return ()
    return tuple(dict.fromkeys(value))


def parse_hostrule(body: Mapping[str, Any]) -> tuple[HostRuleEffect | None, Verdict]:
    """The effect of a HostRule body and its verdict (None: nothing usable, the verdict says why)."""
    obj = cr_ref(KIND, body)
    spec = body.get("spec") or {}
    vh = spec.get("virtualhost") if isinstance(spec, Mapping) else None
    if not isinstance(vh, Mapping):
        return None, Verdict(problems=(_problem(obj, "", "is required: the host and what to set on it"),))
    problems: list[Problem] = []
    refs: list[AviRef] = []
    fqdn = vh.get("fqdn")
    if not isinstance(fqdn, str) or not fqdn.strip():
        problems.append(_problem(obj, "fqdn", f"must be a host name, not {quoted(fqdn)}"))
        fqdn = ""
    fqdn_type = vh.get("fqdnType") or "Exact"
    if fqdn_type not in FQDN_TYPES:
        problems.append(_problem(obj, "fqdnType", f"must be one of {', '.join(FQDN_TYPES)}, not {quoted(fqdn_type)}"))
    elif fqdn_type == "Wildcard" and fqdn and not fqdn.startswith("*"):
        problems.append(_problem(obj, "fqdn", f"a Wildcard fqdn starts with '*.', not {quoted(fqdn)}"))
    enabled = vh.get("enableVirtualHost")
    if enabled is not None and not isinstance(enabled, bool):
        problems.append(_problem(obj, "enableVirtualHost", f"must be true or false, not {quoted(enabled)}"))
        enabled = None

    def ref(where: str, obj_type: str, name: Any) -> str:
        if name in (None, ""):
            return ""
        if not isinstance(name, str):
            problems.append(_problem(obj, where, f"must be the name of an Avi object, not {quoted(name)}"))
            return ""
        refs.append(AviRef(field=f"{VH}.{where}", obj_type=obj_type, name=name))
        return name

    single = {where: ref(where, obj_type, vh.get(where)) for where, obj_type in REF_FIELDS}
    unsupported: list[str] = []
    tls = vh.get("tls") or {}
    certificates: list[str] = []
    secret_certificate = ""
    ssl_profile = ""
    if not isinstance(tls, Mapping):
        problems.append(_problem(obj, "tls", f"must be an object, not {quoted(tls)}"))
        tls = {}
    for where, cert in (("tls.sslKeyCertificate", tls.get("sslKeyCertificate")),
                        ("tls.sslKeyCertificate.alternateCertificate",
                         (tls.get("sslKeyCertificate") or {}).get("alternateCertificate")
                         if isinstance(tls.get("sslKeyCertificate"), Mapping) else None)):
        if cert is None:
            continue
        if not isinstance(cert, Mapping) or not text(cert.get("name")):
            problems.append(_problem(obj, f"{where}.name", "names the certificate (an Avi object or a Secret)"))
            continue
        kind = cert.get("type")
        if kind == "ref":
            certificates.append(ref(f"{where}.name", "sslkeyandcertificate", cert["name"]))
        elif kind == "secret" and where == "tls.sslKeyCertificate":
            secret_certificate = str(cert["name"])
        elif kind == "secret":
            unsupported.append(f"{where}.type: secret")
        else:
            problems.append(_problem(obj, f"{where}.type", f"must be ref or secret, not {quoted(kind)}"))
    if tls:
        ssl_profile = ref("tls.sslProfile", "sslprofile", tls.get("sslProfile"))
        if tls.get("termination") not in (None, "", "edge"):
            problems.append(_problem(obj, "tls.termination", f"must be edge, not {quoted(tls.get('termination'))}"))
    icap = _names(vh.get("icapProfile"), obj=obj, where="icapProfile", problems=problems)
    if len(icap) > 1:
        problems.append(_problem(obj, "icapProfile", "a virtual service has at most one ICAP profile"))
    for i, name in enumerate(icap[:1]):
        ref(f"icapProfile[{i}]", "icapprofile", name)
    policy = vh.get("httpPolicy") or {}
    if not isinstance(policy, Mapping):
        problems.append(_problem(obj, "httpPolicy", f"must be an object, not {quoted(policy)}"))
        policy = {}
    sets = _names(policy.get("policySets"), obj=obj, where="httpPolicy.policySets", problems=problems)
    for i, name in enumerate(sets):
        ref(f"httpPolicy.policySets[{i}]", "httppolicyset", name)
    overwrite = policy.get("overwrite", False)
    if not isinstance(overwrite, bool):
        problems.append(_problem(obj, "httpPolicy.overwrite", f"must be true or false, not {quoted(overwrite)}"))
        overwrite = False
    scripts = _names(vh.get("datascripts"), obj=obj, where="datascripts", problems=problems)
    for i, name in enumerate(scripts):
        ref(f"datascripts[{i}]", "vsdatascriptset", name)
    gslb = vh.get("gslb") or {}
    gslb_fqdn = text(gslb.get("fqdn")) if isinstance(gslb, Mapping) else ""
    if gslb_fqdn and gslb_fqdn == fqdn:
        problems.append(_problem(obj, "gslb.fqdn", "the GSLB FQDN and the local FQDN are the same"))
    listeners, lb_ip = _tcp_settings(vh.get("tcpSettings"), obj=obj, problems=problems)
    for name in UNSUPPORTED:
        head, _, tail = name.partition(".")
        value = vh.get(head)
        if tail:
            value = value.get(tail) if isinstance(value, Mapping) else None
        if value not in (None, "", [], {}, False):
            unsupported.append(name)
    analytics = _analytics_policy(vh.get("analyticsPolicy"), obj=obj, problems=problems)
    aliases = _aliases(vh.get("aliases"), obj=obj, fqdn=fqdn, fqdn_type=str(fqdn_type), gslb_fqdn=gslb_fqdn,
                       problems=problems)
    unknown = sorted(k for k in vh if k not in KNOWN)
    unsupported += unknown
    verdict = Verdict(problems=tuple(problems), refs=tuple(refs), unsupported=tuple(f"{VH}.{u}" for u in unsupported))
    if problems:
        return None, verdict
    effect = HostRuleEffect(
        ref=obj, age=cr_age(body), fqdn=fqdn, fqdn_type=str(fqdn_type), enabled=enabled,
        certificates=tuple(c for c in certificates if c), secret_certificate=secret_certificate,
        ssl_profile=ssl_profile, waf_policy=single["wafPolicy"],
        application_profile=single["applicationProfile"], analytics_profile=single["analyticsProfile"],
        error_page_profile=single["errorPageProfile"], icap_profile=icap[0] if icap else "", policy_sets=sets,
        overwrite=overwrite, datascripts=scripts, gslb_fqdn=gslb_fqdn,
        network_security_policy=single["networkSecurityPolicy"], analytics_policy=analytics, aliases=aliases,
        listeners=listeners, load_balancer_ip=lb_ip)
    return effect, verdict


def _tcp_settings(value: Any, *, obj: ObjectRef,
                  problems: list[Problem]) -> tuple[tuple[tuple[int, bool], ...], str]:
    """`tcpSettings`: the listeners (port, enableSSL) and the static VIP (`loadBalancerIP`)."""
    if value is None:
        return (), ""
    if not isinstance(value, Mapping):
        problems.append(_problem(obj, "tcpSettings", f"must be an object, not {quoted(value)}"))
        return (), ""
    listeners: list[tuple[int, bool]] = []
    raw = value.get("listeners") or []
    if not isinstance(raw, list):
        problems.append(_problem(obj, "tcpSettings.listeners", f"must be a list, not {quoted(raw)}"))
        raw = []
    for i, item in enumerate(raw):
        where = f"tcpSettings.listeners[{i}]"
        port = item.get("port") if isinstance(item, Mapping) else None
        ssl = item.get("enableSSL", False) if isinstance(item, Mapping) else False
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append(_problem(obj, f"{where}.port", f"must be a port number 1-65535, not {quoted(port)}"))
        elif not isinstance(ssl, bool):
            problems.append(_problem(obj, f"{where}.enableSSL", f"must be true or false, not {quoted(ssl)}"))
        elif any(p == port for p, _ in listeners):
            problems.append(_problem(obj, f"{where}.port", f"port {port} is listed twice"))
        else:
            listeners.append((port, ssl))
    lb_ip = text(value.get("loadBalancerIP"))
    if lb_ip:
        try:
            ipaddress.ip_address(lb_ip)
        except ValueError:
            problems.append(_problem(obj, "tcpSettings.loadBalancerIP", f"is not an IP address: {quoted(lb_ip)}"))
            lb_ip = ""
    return tuple(listeners), lb_ip


def _aliases(value: Any, *, obj: ObjectRef, fqdn: str, fqdn_type: str, gslb_fqdn: str,
             problems: list[Problem]) -> tuple[str, ...]:
    """`aliases`, checked as AKO's `ValidateHostRuleObj` does (each check naming the field)."""
    if value in (None, []):
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(_problem(obj, "aliases", f"must be a list of host names, not {quoted(value)}"))
        return ()
    names = [v.strip().lower() for v in value]
    if fqdn_type != "Exact":
        problems.append(_problem(obj, "aliases", "aliases are supported only when fqdnType is Exact"))
    elif fqdn.lower() in names:
        problems.append(_problem(obj, "aliases", f"{quoted(fqdn)} is the fqdn itself"))
    elif len(set(names)) != len(names):
        problems.append(_problem(obj, "aliases", "aliases must be unique"))
    elif gslb_fqdn and gslb_fqdn.lower() in names:
        problems.append(_problem(obj, "aliases", f"must not contain the GSLB FQDN {quoted(gslb_fqdn)}"))
    else:
        return tuple(names)
    return ()


def _analytics_policy(value: Any, *, obj: ObjectRef,
                      problems: list[Problem]) -> tuple[tuple[str, Any], ...] | None:
    """`analyticsPolicy` as AKO turns it into the VS's `analytics_policy` (`BuildL7HostRule`).

    Full client logs last for ever (duration 0) unless a duration is given; the throttle defaults to
    HIGH, as the CRD says."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.append(_problem(obj, "analyticsPolicy", f"must be an object, not {quoted(value)}"))
        return None
    logs = value.get("fullClientLogs") or {}
    if not isinstance(logs, Mapping):
        problems.append(_problem(obj, "analyticsPolicy.fullClientLogs", f"must be an object, not {quoted(logs)}"))
        return None
    enabled, all_headers = logs.get("enabled", False), value.get("logAllHeaders", False)
    throttle, duration = logs.get("throttle") or "HIGH", logs.get("duration", 0)
    for where, flag in (("fullClientLogs.enabled", enabled), ("logAllHeaders", all_headers)):
        if not isinstance(flag, bool):
            problems.append(_problem(obj, f"analyticsPolicy.{where}", f"must be true or false, not {quoted(flag)}"))
    if throttle not in THROTTLES:
        problems.append(_problem(obj, "analyticsPolicy.fullClientLogs.throttle",
                                 f"must be one of {', '.join(THROTTLES)}, not {quoted(throttle)}"))
    if isinstance(duration, bool) or not isinstance(duration, int) or duration < 0:
        problems.append(_problem(obj, "analyticsPolicy.fullClientLogs.duration",
                                 f"must be a number of minutes (0: for ever), not {quoted(duration)}"))
    if any(p.field.startswith(f"{VH}.analyticsPolicy") for p in problems):
        return None
    full = (("enabled", enabled), ("duration", duration), ("throttle", THROTTLES[throttle]))
    return (("full_client_logs", full), ("all_headers", all_headers))


def fqdn_of(body: Mapping[str, Any]) -> str:
    """The FQDN a HostRule claims ("" when it names none), lowercased, whatever else is wrong."""
    vh = (body.get("spec") or {}).get("virtualhost") if isinstance(body.get("spec"), Mapping) else None
    fqdn = vh.get("fqdn") if isinstance(vh, Mapping) else None
    return fqdn.strip().lower() if isinstance(fqdn, str) else ""


def secret_of(body: Mapping[str, Any]) -> str:
    """The Secret a HostRule's certificate of `type: secret` names ("" when none)."""
    vh = (body.get("spec") or {}).get("virtualhost") if isinstance(body.get("spec"), Mapping) else None
    tls = vh.get("tls") if isinstance(vh, Mapping) else None
    cert = tls.get("sslKeyCertificate") if isinstance(tls, Mapping) else None
    if isinstance(cert, Mapping) and cert.get("type") == "secret" and isinstance(cert.get("name"), str):
        return str(cert["name"])
    return ""


def claims_of(body: Mapping[str, Any]) -> list[str]:
    """The host names a HostRule claims, lowercased: its FQDN, then its aliases (whatever else is wrong)."""
    fqdn = fqdn_of(body)
    vh = (body.get("spec") or {}).get("virtualhost") if isinstance(body.get("spec"), Mapping) else None
    aliases = vh.get("aliases") if isinstance(vh, Mapping) else None
    extra = [a.strip().lower() for a in aliases if isinstance(a, str) and a.strip()] if isinstance(aliases, list) else []
    return [n for n in dict.fromkeys([fqdn, *extra]) if n]


def winners(bodies: Iterable[Mapping[str, Any]]) -> dict[ObjectRef, tuple[ObjectRef, str]]:
    """For each HostRule that loses a name (its FQDN or an alias) to an older one: that one, and the name.

    An alias counts as a claim like the FQDN: two HostRules never serve one host name."""
    holder: dict[str, ObjectRef] = {}
    lost: dict[ObjectRef, tuple[ObjectRef, str]] = {}
    for body in sorted(bodies, key=cr_age):
        ref = cr_ref(KIND, body)
        names = claims_of(body)
        taken = next(((holder[n], n) for n in names if n in holder and holder[n] != ref), None)
        if taken is not None:
            lost[ref] = taken
            continue
        for name in names:
            holder.setdefault(name, ref)
    return lost


def conflict(*, obj: ObjectRef, holder: ObjectRef, fqdn: str, alias: bool = False) -> Problem:
    """`fqdn` (the HostRule's FQDN, or with `alias` one of its aliases) is held by an older HostRule."""
    return Problem(obj=obj, field=f"{VH}.aliases" if alias else f"{VH}.fqdn", reason="DuplicateFqdn",
                   message=f"{fqdn} is already claimed by the older HostRule {holder.namespace}/{holder.name}")


class HostRules:
    """The accepted effects, answering which one applies to a host."""

    def __init__(self, effects: Iterable[HostRuleEffect] = ()) -> None:
        ordered = sorted(effects, key=lambda e: e.age)
        self.exact = {e.fqdn.lower(): e for e in reversed(ordered) if e.fqdn_type == "Exact"}
        self.patterns: Sequence[HostRuleEffect] = [e for e in ordered if e.fqdn_type != "Exact"]

    def __bool__(self) -> bool:
        return bool(self.exact or self.patterns)

    def effects(self) -> list[HostRuleEffect]:
        return [*self.exact.values(), *self.patterns]

    def secret_refs(self) -> set[tuple[str, str]]:
        """The (namespace, name) of every Secret an accepted HostRule takes its certificate from."""
        return {(e.ref.namespace, e.secret_certificate) for e in self.effects() if e.secret_certificate}

    def for_host(self, host: str) -> HostRuleEffect | None:
        found = self.exact.get(host.lower())
        if found is not None:
            return found
        return next((e for e in self.patterns if e.matches(host)), None)
