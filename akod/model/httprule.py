"""HTTPRule (`ako.vmware.com/v1beta1`): a spec read into the pool settings akod applies, and its verdict.

An HTTPRule names a host (`spec.fqdn`, matched exactly) and, per `spec.paths[i].target`, the Avi
properties of the pools that serve that target and every path under it: the load balancing
algorithm (`loadBalancerPolicy`), TLS re-encryption to the backend (`tls`: SSL profile, an Avi
PKI profile or a CA certificate akod turns into a PKI profile of its own), health monitors, an
application persistence profile and HTTP/2 to the backend. This module reads the trimmed CR body
(`akod.kube.trimming.trim_custom_resource`) into an `HTTPRuleEffect` and a `Verdict`: the field
errors that reject it (AKO's `ValidateHTTPRuleObj` checks and the enums of its CRD, each naming
its field), the Avi objects it names (checked on the controller by the sync layer).

Which pools a target acts on, as AKO's `BuildPoolHTTPRule`: the pools of the HTTPRule's own
namespace (an HTTPRule never touches another namespace's Ingresses) serving the host at a path
that starts with the target (a string prefix: `/foo` covers `/foo`, `/foo/bar` and `/foobar`).
Where AKO applies several matching targets in Go map order (so the result may change from one
run to the next), akod applies them from the least to the most specific target: a field the
more specific target sets wins, health monitors add up (AKO appends them too).

Two HTTPRules of one namespace with the same host and target: the older (creation time, then
name) keeps it and the other is rejected naming its `spec.paths[i].target` (AKO keeps the last
one it happened to read).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from akod.model.crs import AviRef, Verdict, cr_age, cr_ref, text
from akod.model.problems import ObjectRef, Problem, quoted

KIND = "HTTPRule"
SPEC = "spec"
# The enums of AKO's CRD (`deploy/crds/ako.vmware.com_httprules.yaml`): the apiserver refuses
# other values, akod too where the CRD was installed without them.
ALGORITHMS = ("LB_ALGORITHM_CONSISTENT_HASH", "LB_ALGORITHM_CORE_AFFINITY", "LB_ALGORITHM_FASTEST_RESPONSE",
              "LB_ALGORITHM_FEWEST_SERVERS", "LB_ALGORITHM_LEAST_CONNECTIONS", "LB_ALGORITHM_LEAST_LOAD",
              "LB_ALGORITHM_ROUND_ROBIN")
CONSISTENT_HASH = "LB_ALGORITHM_CONSISTENT_HASH"
HASHES = ("LB_ALGORITHM_CONSISTENT_HASH_CALLID", "LB_ALGORITHM_CONSISTENT_HASH_SOURCE_IP_ADDRESS",
          "LB_ALGORITHM_CONSISTENT_HASH_SOURCE_IP_ADDRESS_AND_PORT", "LB_ALGORITHM_CONSISTENT_HASH_URI",
          "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER", "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_STRING")
CUSTOM_HEADER = "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER"
REENCRYPT = "reencrypt"
DEFAULT_POOL_SSL_PROFILE = "System-Standard"  # AKO's DefaultPoolSSLProfile
PKI_AND_CA = "PKIProfile and DestinationCA fields are set in the HTTPRule. Only one of the field should be set."
MODELS = {"sslprofile": "SSLProfile", "pkiprofile": "PKIProfile", "healthmonitor": "HealthMonitor",
          "applicationpersistenceprofile": "ApplicationPersistenceProfile"}
PATH_KEYS = frozenset({"target", "loadBalancerPolicy", "tls", "healthMonitors", "applicationPersistence",
                       "enableHTTP2"})


@dataclass(frozen=True)
class PathRule:
    """What one `spec.paths[i]` sets on the pools under its target ("" / () / None: not set)."""

    target: str
    index: int = 0
    algorithm: str = ""
    hash: str = ""
    host_header: str = ""
    reencrypt: bool = False
    ssl_profile: str = ""  # with `reencrypt`: "" = System-Standard
    pki_profile: str = ""  # an Avi PKI profile by name
    destination_ca: str = ""  # PEM: akod makes a PKI profile of its own for each pool
    health_monitors: tuple[str, ...] = ()
    persistence: str = ""
    http2: bool | None = None

    def covers(self, path: str) -> bool:
        return (path or "/").startswith(self.target)

    def describe(self) -> dict[str, Any]:
        shown = {"target": self.target, "algorithm": self.algorithm, "hash": self.hash,
                 "hostHeader": self.host_header, "tls": REENCRYPT if self.reencrypt else "",
                 "sslProfile": self.ssl_profile, "pkiProfile": self.pki_profile,
                 "destinationCA": "(PEM)" if self.destination_ca else "", "healthMonitors": list(self.health_monitors),
                 "applicationPersistence": self.persistence, "enableHTTP2": self.http2}
        return {k: v for k, v in shown.items() if v not in (None, "", [])}


@dataclass(frozen=True)
class HTTPRuleEffect:
    """What one accepted HTTPRule does to the pools of its host in its namespace."""

    ref: ObjectRef
    age: tuple[str, str, str]
    fqdn: str
    paths: tuple[PathRule, ...] = ()

    @property
    def namespace(self) -> str:
        return self.ref.namespace

    def describe(self) -> dict[str, Any]:
        return {"fqdn": self.fqdn, "paths": [p.describe() for p in self.paths]}


@dataclass(frozen=True)
class PoolSettings:
    """The HTTPRule fields that apply to one pool, merged from its targets (least specific first)."""

    algorithm: str = ""
    hash: str = ""
    host_header: str = ""
    reencrypt: bool = False
    ssl_profile: str = ""
    pki_profile: str = ""
    destination_ca: str = ""
    health_monitors: tuple[str, ...] = ()
    persistence: str = ""
    http2: bool | None = None
    rules: tuple[ObjectRef, ...] = field(default=())  # the HTTPRules these come from

    def __bool__(self) -> bool:
        return bool(self.rules)


def _problem(obj: ObjectRef, where: str, message: str, reason: str = "InvalidField") -> Problem:
    return Problem(obj=obj, field=f"{SPEC}.{where}" if where else SPEC, reason=reason, message=message)


def _is_pem_certificates(pem: str) -> bool:
    try:
        return bool(x509.load_pem_x509_certificates(pem.encode()))
    except ValueError:
        return False


def _path(raw: Any, *, i: int, obj: ObjectRef, problems: list[Problem], refs: list[AviRef],
          unsupported: list[str], notes: list[str]) -> PathRule | None:
    where = f"paths[{i}]"
    if not isinstance(raw, Mapping):
        problems.append(_problem(obj, where, f"must be an object, not {quoted(raw)}"))
        return None
    before = len(problems)
    target = raw.get("target")
    if not isinstance(target, str) or not target.startswith("/"):
        problems.append(_problem(obj, f"{where}.target", f"must be a path starting with '/', not {quoted(target)}"))
        target = "/"

    def ref(at: str, obj_type: str, name: Any) -> str:
        if name in (None, ""):
            return ""
        if not isinstance(name, str):
            problems.append(_problem(obj, at, f"must be the name of an Avi object, not {quoted(name)}"))
            return ""
        refs.append(AviRef(field=f"{SPEC}.{at}", obj_type=obj_type, name=name))
        return name

    policy = raw.get("loadBalancerPolicy") or {}
    if not isinstance(policy, Mapping):
        problems.append(_problem(obj, f"{where}.loadBalancerPolicy", f"must be an object, not {quoted(policy)}"))
        policy = {}
    algorithm, hash_, header = text(policy.get("algorithm")), text(policy.get("hash")), text(policy.get("hostHeader"))
    if policy.get("algorithm") not in (None, "") and algorithm not in ALGORITHMS:
        problems.append(_problem(obj, f"{where}.loadBalancerPolicy.algorithm",
                                 f"must be one of {', '.join(ALGORITHMS)}, not {quoted(policy.get('algorithm'))}"))
    if policy.get("hash") not in (None, "") and hash_ not in HASHES:
        problems.append(_problem(obj, f"{where}.loadBalancerPolicy.hash",
                                 f"must be one of {', '.join(HASHES)}, not {quoted(policy.get('hash'))}"))
    if algorithm == CONSISTENT_HASH and hash_ == CUSTOM_HEADER and not header:
        # AKO sends the pool without the header and the controller refuses it: refused here instead.
        problems.append(_problem(obj, f"{where}.loadBalancerPolicy.hostHeader",
                                 f"is required with hash {CUSTOM_HEADER}"))
    if hash_ and algorithm != CONSISTENT_HASH:
        notes.append(f"{SPEC}.{where}.loadBalancerPolicy.hash (only with {CONSISTENT_HASH})")
        hash_ = ""
    if header and hash_ != CUSTOM_HEADER:
        notes.append(f"{SPEC}.{where}.loadBalancerPolicy.hostHeader (only with hash {CUSTOM_HEADER})")
        header = ""

    tls = raw.get("tls") or {}
    reencrypt, ssl_profile, pki_profile, ca = False, "", "", ""
    if not isinstance(tls, Mapping):
        problems.append(_problem(obj, f"{where}.tls", f"must be an object, not {quoted(tls)}"))
        tls = {}
    if tls:
        if tls.get("type") != REENCRYPT:
            problems.append(_problem(obj, f"{where}.tls.type", f"must be {REENCRYPT}, not {quoted(tls.get('type'))}"))
        reencrypt = True
        ssl_profile = ref(f"{where}.tls.sslProfile", "sslprofile", tls.get("sslProfile"))
        if text(tls.get("pkiProfile")) and text(tls.get("destinationCA")):
            problems.append(_problem(obj, f"{where}.tls", PKI_AND_CA))
        pki_profile = ref(f"{where}.tls.pkiProfile", "pkiprofile", tls.get("pkiProfile"))
        raw_ca = tls.get("destinationCA")
        if raw_ca not in (None, ""):
            if not isinstance(raw_ca, str) or not _is_pem_certificates(raw_ca):
                problems.append(_problem(obj, f"{where}.tls.destinationCA", "is not a PEM certificate"))
            else:
                ca = raw_ca.strip() + "\n"
    monitors_raw = raw.get("healthMonitors")
    monitors: tuple[str, ...] = ()
    if monitors_raw is not None:
        if not isinstance(monitors_raw, list) or not all(isinstance(m, str) and m for m in monitors_raw):
            problems.append(_problem(obj, f"{where}.healthMonitors",
                                     f"must be a list of health monitor names, not {quoted(monitors_raw)}"))
        else:
            monitors = tuple(dict.fromkeys(monitors_raw))
            for j, name in enumerate(monitors):
                ref(f"{where}.healthMonitors[{j}]", "healthmonitor", name)
    persistence = ref(f"{where}.applicationPersistence", "applicationpersistenceprofile",
                      raw.get("applicationPersistence"))
    http2 = raw.get("enableHTTP2")
    if http2 is not None and not isinstance(http2, bool):
        problems.append(_problem(obj, f"{where}.enableHTTP2", f"must be true or false, not {quoted(http2)}"))
        http2 = None
    unsupported += [f"{SPEC}.{where}.{k}" for k in sorted(raw) if k not in PATH_KEYS]
    if len(problems) > before:
        return None
    return PathRule(target=target, index=i, algorithm=algorithm, hash=hash_, host_header=header,
                    reencrypt=reencrypt, ssl_profile=ssl_profile, pki_profile=pki_profile, destination_ca=ca,
                    health_monitors=monitors, persistence=persistence, http2=http2)


def parse_httprule(body: Mapping[str, Any]) -> tuple[HTTPRuleEffect | None, Verdict]:
    """The effect of an HTTPRule body and its verdict (None: nothing usable, the verdict says why)."""
    obj = cr_ref(KIND, body)
    spec = body.get("spec")
    if not isinstance(spec, Mapping):
        return None, Verdict(problems=(_problem(obj, "", "is required: the host and its paths"),))
    problems: list[Problem] = []
    refs: list[AviRef] = []
    unsupported: list[str] = []
    notes: list[str] = []
    fqdn = spec.get("fqdn")
    if not isinstance(fqdn, str) or not fqdn.strip():
        problems.append(_problem(obj, "fqdn", f"must be a host name, not {quoted(fqdn)}"))
        fqdn = ""
    raw_paths = spec.get("paths") or []
    if not isinstance(raw_paths, list):
        problems.append(_problem(obj, "paths", f"must be a list, not {quoted(raw_paths)}"))
        raw_paths = []
    paths: list[PathRule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_paths):
        rule = _path(raw, i=i, obj=obj, problems=problems, refs=refs, unsupported=unsupported, notes=notes)
        if rule is None:
            continue
        first = seen.setdefault(rule.target, i)
        if first != i:
            problems.append(_problem(obj, f"paths[{i}].target",
                                     f"{rule.target} is already the target of spec.paths[{first}]"))
            continue
        paths.append(rule)
    unsupported += [f"{SPEC}.{k}" for k in sorted(spec) if k not in ("fqdn", "paths")]
    verdict = Verdict(problems=tuple(problems), refs=tuple(refs), unsupported=tuple(unsupported), notes=tuple(notes))
    if problems:
        return None, verdict
    return HTTPRuleEffect(ref=obj, age=cr_age(body), fqdn=fqdn.strip().lower(), paths=tuple(paths)), verdict


def claims_of(body: Mapping[str, Any]) -> list[tuple[int, str, str, str]]:
    """(index, namespace, fqdn, target) of each path an HTTPRule body claims, whatever else is wrong."""
    spec = body.get("spec")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("fqdn"), str):
        return []
    fqdn, namespace = str(spec["fqdn"]).strip().lower(), str(body.get("namespace", ""))
    paths = spec.get("paths") if isinstance(spec.get("paths"), list) else []
    return [(i, namespace, fqdn, p["target"]) for i, p in enumerate(paths or [])
            if isinstance(p, Mapping) and isinstance(p.get("target"), str)]


def fqdn_of(body: Mapping[str, Any]) -> str:
    spec = body.get("spec")
    fqdn = spec.get("fqdn") if isinstance(spec, Mapping) else None
    return fqdn.strip().lower() if isinstance(fqdn, str) else ""


def conflicts(bodies: Iterable[Mapping[str, Any]]) -> dict[ObjectRef, list[Problem]]:
    """For each HTTPRule with a target an older one of its namespace holds for the same host: why."""
    holder: dict[tuple[str, str, str], ObjectRef] = {}
    lost: dict[ObjectRef, list[Problem]] = {}
    for body in sorted(bodies, key=cr_age):
        ref = cr_ref(KIND, body)
        for i, namespace, fqdn, target in claims_of(body):
            if not fqdn:
                continue
            first = holder.setdefault((namespace, fqdn, target), ref)
            if first != ref:
                lost.setdefault(ref, []).append(Problem(
                    obj=ref, field=f"{SPEC}.paths[{i}].target", reason="DuplicateTarget",
                    message=f"{fqdn}{target} is already the target of the older HTTPRule "
                            f"{first.namespace}/{first.name}"))
    return lost


class HTTPRules:
    """The accepted effects, answering which settings apply to the pool of a namespace, host and path."""

    def __init__(self, effects: Iterable[HTTPRuleEffect] = ()) -> None:
        self.by_host: dict[tuple[str, str], list[HTTPRuleEffect]] = {}
        for effect in sorted(effects, key=lambda e: e.age):
            self.by_host.setdefault((effect.namespace, effect.fqdn), []).append(effect)

    def __bool__(self) -> bool:
        return bool(self.by_host)

    def for_pool(self, *, namespace: str, host: str, path: str) -> PoolSettings:
        effects = self.by_host.get((namespace, host.lower()))
        if not effects:
            return PoolSettings()
        matching = sorted(((len(p.target), e.age, p, e.ref) for e in effects for p in e.paths if p.covers(path)),
                          key=lambda m: (m[0], m[1]))
        return merged([(p, ref) for _, _, p, ref in matching])


def merged(rules: Sequence[tuple[PathRule, ObjectRef]]) -> PoolSettings:
    """The settings of `rules` in order: a later rule's field wins, health monitors add up."""
    s: dict[str, Any] = {}
    monitors: list[str] = []
    refs: list[ObjectRef] = []
    for rule, ref in rules:
        if rule.algorithm:
            s.update(algorithm=rule.algorithm, hash=rule.hash, host_header=rule.host_header)
        if rule.reencrypt:
            s.update(reencrypt=True, ssl_profile=rule.ssl_profile, pki_profile=rule.pki_profile,
                     destination_ca=rule.destination_ca)
        if rule.persistence:
            s["persistence"] = rule.persistence
        if rule.http2 is not None:
            s["http2"] = rule.http2
        monitors += [m for m in rule.health_monitors if m not in monitors]
        if ref not in refs:
            refs.append(ref)
    return PoolSettings(**s, health_monitors=tuple(monitors), rules=tuple(refs))
