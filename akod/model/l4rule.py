"""L4Rule (`ako.vmware.com/v1alpha2`): a spec read into the effect akod applies, and its verdict.

An L4Rule holds the Avi properties of the virtual service and pools made for the LoadBalancer
Services that name it in the annotation `ako.vmware.com/l4rule: [<namespace>/]<name>` (the
namespace defaults to the Service's; naming an L4Rule of another namespace is allowed, as in
AKO). This module reads the trimmed CR body (`akod.kube.trimming.trim_custom_resource`) into an
`L4RuleEffect` and a `Verdict`: the field errors that reject it (AKO's `ValidateL4RuleObj`
checks, each naming its field), the Avi objects it names (checked on the controller by the sync
layer), and the fields it uses that akod does not apply (accepted, with a warning Event).

The CRD gives `applicationProfileRef`, `networkProfileRef` and `analyticsProfileRef` defaults
(System-L4-Application, System-TCP-Proxy, System-Analytics-Profile) and `lbAlgorithm`, `enabled`
defaults per backend, so an L4Rule read from the apiserver always sets them, as with AKO. How an
effect changes the objects is in `l4rule_apply`.

AKO also reads the type of the application profile (and, with SSL, of the network profile) to
judge an L4Rule: `type_reads` says which to read, `judge_types` judges what was read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from akod.model.crs import AviRef, Verdict, cr_age, cr_ref
from akod.model.problems import ObjectRef, Problem, quoted

KIND = "L4Rule"
ANNOTATION = "ako.vmware.com/l4rule"
SPEC = "spec"
PROTOCOLS = ("TCP", "UDP", "SCTP")
LB_ALGORITHMS = (
    "LB_ALGORITHM_LEAST_CONNECTIONS", "LB_ALGORITHM_ROUND_ROBIN", "LB_ALGORITHM_FASTEST_RESPONSE",
    "LB_ALGORITHM_CONSISTENT_HASH", "LB_ALGORITHM_LEAST_LOAD", "LB_ALGORITHM_FEWEST_SERVERS",
    "LB_ALGORITHM_RANDOM", "LB_ALGORITHM_FEWEST_TASKS", "LB_ALGORITHM_NEAREST_SERVER",
    "LB_ALGORITHM_CORE_AFFINITY", "LB_ALGORITHM_TOPOLOGY")
CONSISTENT_HASH = "LB_ALGORITHM_CONSISTENT_HASH"
HASHES = (
    "LB_ALGORITHM_CONSISTENT_HASH_SOURCE_IP_ADDRESS", "LB_ALGORITHM_CONSISTENT_HASH_SOURCE_IP_ADDRESS_AND_PORT",
    "LB_ALGORITHM_CONSISTENT_HASH_URI", "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER",
    "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_STRING", "LB_ALGORITHM_CONSISTENT_HASH_CALLID")
CUSTOM_HEADER = "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER"

# Single refs of the spec: (field, Avi type).
VS_REFS: tuple[tuple[str, str], ...] = (
    ("analyticsProfileRef", "analyticsprofile"),
    ("applicationProfileRef", "applicationprofile"),
    ("networkProfileRef", "networkprofile"),
    ("networkSecurityPolicyRef", "networksecuritypolicy"),
    ("securityPolicyRef", "securitypolicy"),
    ("sslProfileRef", "sslprofile"),
)
POOL_REFS: tuple[tuple[str, str], ...] = (
    ("applicationPersistenceProfileRef", "applicationpersistenceprofile"),
    ("pkiProfileRef", "pkiprofile"),
    ("sslProfileRef", "sslprofile"),
    ("sslKeyAndCertificateRef", "sslkeyandcertificate"),
)
MODELS = {
    "analyticsprofile": "AnalyticsProfile", "applicationprofile": "ApplicationProfile",
    "networkprofile": "NetworkProfile", "networksecuritypolicy": "NetworkSecurityPolicy",
    "securitypolicy": "SecurityPolicy", "sslprofile": "SSLProfile", "sslkeyandcertificate": "SSLKeyAndCertificate",
    "vsdatascriptset": "VSDataScriptSet", "applicationpersistenceprofile": "ApplicationPersistenceProfile",
    "pkiprofile": "PKIProfile", "healthmonitor": "HealthMonitor",
}
KNOWN = frozenset({"analyticsPolicy", "analyticsProfileRef", "applicationProfileRef", "backendProperties",
                   "listenerProperties", "loadBalancerIP", "networkProfileRef", "networkSecurityPolicyRef",
                   "performanceLimits", "securityPolicyRef", "sslKeyAndCertificateRefs", "sslProfileRef",
                   "vsDatascriptRefs", "revokeVipRoute"})
BACKEND_KNOWN = frozenset({"analyticsPolicy", "applicationPersistenceProfileRef", "enabled", "healthMonitorRefs",
                           "healthMonitorCrdRefs", "lbAlgorithm", "lbAlgorithmConsistentHashHdr", "lbAlgorithmHash",
                           "minServersUp", "pkiProfileRef", "port", "protocol", "sslKeyAndCertificateRef",
                           "sslProfileRef"})


@dataclass(frozen=True)
class Listener:
    """One entry of `listenerProperties`: a port of the Service and whether SSL terminates on it."""

    port: int
    protocol: str
    enable_ssl: bool


@dataclass(frozen=True)
class Backend:
    """One entry of `backendProperties`: what it sets on the pool of its port and protocol."""

    index: int
    port: int
    protocol: str
    refs: tuple[tuple[str, str], ...] = ()  # (Avi pool field, name)
    health_monitors: tuple[str, ...] = ()
    lb_algorithm: str = ""
    lb_algorithm_hash: str = ""
    hash_header: str = ""
    min_servers_up: int | None = None
    enabled: bool | None = None
    realtime_metrics: bool | None = None

    def describe(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"port": self.port, "protocol": self.protocol, **dict(self.refs),
                                 "health_monitor_refs": list(self.health_monitors), "lb_algorithm": self.lb_algorithm,
                                 "lb_algorithm_hash": self.lb_algorithm_hash,
                                 "lb_algorithm_consistent_hash_hdr": self.hash_header,
                                 "min_servers_up": self.min_servers_up, "enabled": self.enabled,
                                 "enable_realtime_metrics": self.realtime_metrics}
        return {k: v for k, v in shown.items() if v not in (None, "", [])}


@dataclass(frozen=True)
class L4RuleEffect:
    """What one accepted L4Rule does to the virtual service and pools of the Services naming it."""

    ref: ObjectRef
    age: tuple[str, str, str]
    refs: tuple[tuple[str, str], ...] = ()  # (CRD field, name) of the single VS refs, VS_REFS order
    datascripts: tuple[str, ...] = ()
    certificates: tuple[str, ...] = ()
    load_balancer_ip: str = ""
    max_connections: int | None = None
    max_throughput: int | None = None
    full_client_logs: Mapping[str, Any] | None = None  # {enabled, duration?, throttle?}
    listeners: tuple[Listener, ...] = ()
    backends: tuple[Backend, ...] = field(default=())

    def ref_of(self, where: str) -> str:
        return dict(self.refs).get(where, "")

    @property
    def ssl(self) -> bool:
        return any(listener.enable_ssl for listener in self.listeners)

    def backend(self, *, port: int, protocol: str) -> Backend | None:
        """The first `backendProperties` entry of this port and protocol (AKO takes the first)."""
        return next((b for b in self.backends if (b.port, b.protocol) == (port, protocol)), None)

    def describe(self) -> dict[str, Any]:
        """The effect as `akod plan` and `/objects` show it (only what it sets)."""
        shown: dict[str, Any] = {**dict(self.refs), "vsDatascriptRefs": list(self.datascripts),
                                 "sslKeyAndCertificateRefs": list(self.certificates),
                                 "loadBalancerIP": self.load_balancer_ip,
                                 "performanceLimits": {k: v for k, v in (("maxConcurrentConnections",
                                                                          self.max_connections),
                                                                         ("maxThroughput", self.max_throughput))
                                                       if v is not None},
                                 "analyticsPolicy": dict(self.full_client_logs or {}),
                                 "listenerProperties": [{"port": li.port, "protocol": li.protocol,
                                                         "enableSsl": li.enable_ssl} for li in self.listeners],
                                 "backendProperties": [b.describe() for b in self.backends]}
        return {k: v for k, v in shown.items() if v not in (None, "", [], {})}


class _Reader:
    """Collects the problems and refs of one L4Rule while its spec is read."""

    def __init__(self, obj: ObjectRef) -> None:
        self.obj = obj
        self.problems: list[Problem] = []
        self.refs: list[AviRef] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(obj=self.obj, field=f"{SPEC}.{where}" if where else SPEC, reason="InvalidField",
                                     message=message))

    def ref(self, where: str, obj_type: str, name: Any) -> str:
        if name in (None, ""):
            return ""
        if not isinstance(name, str):
            self.problem(where, f"must be the name of an Avi object, not {quoted(name)}")
            return ""
        self.refs.append(AviRef(field=f"{SPEC}.{where}", obj_type=obj_type, name=name))
        return name

    def names(self, where: str, obj_type: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(where, f"must be a list of Avi object names, not {quoted(value)}")
            return ()
        unique = tuple(dict.fromkeys(value))
        for i, name in enumerate(unique):
            self.ref(f"{where}[{i}]", obj_type, name)
        return unique

    def integer(self, where: str, value: Any, *, low: int, high: int) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(where, f"must be an integer from {low} to {high}, not {quoted(value)}")
            return None
        return int(value)

    def boolean(self, where: str, value: Any) -> bool | None:
        if value is None:
            return None
        if not isinstance(value, bool):
            self.problem(where, f"must be true or false, not {quoted(value)}")
            return None
        return value

    def port_protocol(self, where: str, raw: Mapping[str, Any], *, protocols: tuple[str, ...]) -> tuple[int, str]:
        port = self.integer(f"{where}.port", raw.get("port"), low=1, high=65535)
        if raw.get("port") is None:
            self.problem(f"{where}.port", "is required")
        protocol = raw.get("protocol")
        if protocol not in protocols:
            self.problem(f"{where}.protocol", f"must be one of {', '.join(protocols)}, not {quoted(protocol)}")
        return port or 0, str(protocol or "")


def _listeners(r: _Reader, value: Any) -> tuple[Listener, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        r.problem("listenerProperties", f"must be a list, not {quoted(value)}")
        return ()
    found: list[Listener] = []
    for i, raw in enumerate(value):
        where = f"listenerProperties[{i}]"
        if not isinstance(raw, Mapping):
            r.problem(where, f"must be an object, not {quoted(raw)}")
            continue
        port, protocol = r.port_protocol(where, raw, protocols=("TCP",))
        ssl = r.boolean(f"{where}.enableSsl", raw.get("enableSsl")) or False
        if any((li.port, li.protocol) == (port, protocol) for li in found):
            r.problem(f"{where}.port", f"{protocol} port {port} is listed twice")
        found.append(Listener(port=port, protocol=protocol, enable_ssl=ssl))
    return tuple(found)


def _backend(r: _Reader, i: int, raw: Any, unsupported: list[str]) -> Backend | None:
    where = f"backendProperties[{i}]"
    if not isinstance(raw, Mapping):
        r.problem(where, f"must be an object, not {quoted(raw)}")
        return None
    port, protocol = r.port_protocol(where, raw, protocols=PROTOCOLS)
    refs = tuple((field_, name) for field_, name in
                 ((f, r.ref(f"{where}.{f}", t, raw.get(f))) for f, t in POOL_REFS) if name)
    monitors = r.names(f"{where}.healthMonitorRefs", "healthmonitor", raw.get("healthMonitorRefs"))
    algorithm = raw.get("lbAlgorithm")
    if algorithm is not None and algorithm not in LB_ALGORITHMS:
        r.problem(f"{where}.lbAlgorithm", f"must be one of the LB_ALGORITHM_* values, not {quoted(algorithm)}")
    hashed = raw.get("lbAlgorithmHash")
    header = raw.get("lbAlgorithmConsistentHashHdr")
    if hashed is not None and hashed not in HASHES:
        r.problem(f"{where}.lbAlgorithmHash", f"must be one of the LB_ALGORITHM_CONSISTENT_HASH_* values, "
                                              f"not {quoted(hashed)}")
    # AKO's validateLBAlgorithm.
    if algorithm == CONSISTENT_HASH:
        if hashed is None:
            r.problem(f"{where}.lbAlgorithmHash", f"must be specified when lbAlgorithm is {CONSISTENT_HASH}")
        elif hashed == CUSTOM_HEADER and header is None:
            r.problem(f"{where}.lbAlgorithmConsistentHashHdr",
                      f"must be specified when lbAlgorithmHash is {CUSTOM_HEADER}")
    elif algorithm is not None:
        if hashed is not None:
            r.problem(f"{where}.lbAlgorithmHash", f"must not be specified when lbAlgorithm is {algorithm}")
        if header is not None:
            r.problem(f"{where}.lbAlgorithmConsistentHashHdr",
                      f"must not be specified when lbAlgorithm is {algorithm}")
    if header is not None and not isinstance(header, str):
        r.problem(f"{where}.lbAlgorithmConsistentHashHdr", f"must be a header name, not {quoted(header)}")
    policy = raw.get("analyticsPolicy")
    realtime = None
    if policy is not None:
        if not isinstance(policy, Mapping):
            r.problem(f"{where}.analyticsPolicy", f"must be an object, not {quoted(policy)}")
        else:
            realtime = r.boolean(f"{where}.analyticsPolicy.enableRealtimeMetrics", policy.get("enableRealtimeMetrics"))
    if raw.get("healthMonitorCrdRefs"):
        # AKO rejects these unless its CRD operator runs; akod has none (README, L4Rule).
        r.problem(f"{where}.healthMonitorCrdRefs", "HealthMonitor CRs need AKO's CRD operator, which akod does not "
                                                    "run; name Avi health monitors in healthMonitorRefs instead")
    unsupported += [f"{SPEC}.{where}.{k}" for k in sorted(raw) if k not in BACKEND_KNOWN]
    return Backend(index=i, port=port, protocol=protocol, refs=refs, health_monitors=monitors,
                   lb_algorithm=str(algorithm or ""), lb_algorithm_hash=str(hashed or ""),
                   hash_header=header if isinstance(header, str) and hashed == CUSTOM_HEADER else "",
                   min_servers_up=r.integer(f"{where}.minServersUp", raw.get("minServersUp"), low=0, high=65535),
                   enabled=r.boolean(f"{where}.enabled", raw.get("enabled")), realtime_metrics=realtime)


def _full_client_logs(r: _Reader, value: Any) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        r.problem("analyticsPolicy", f"must be an object, not {quoted(value)}")
        return None
    logs = value.get("fullClientLogs")
    if logs is None:
        return None
    if not isinstance(logs, Mapping):
        r.problem("analyticsPolicy.fullClientLogs", f"must be an object, not {quoted(logs)}")
        return None
    where = "analyticsPolicy.fullClientLogs"
    enabled = r.boolean(f"{where}.enabled", logs.get("enabled"))
    if enabled is None:
        r.problem(f"{where}.enabled", "is required (true or false)")
        return None
    found: dict[str, Any] = {"enabled": enabled}
    for key in ("duration", "throttle"):
        number = r.integer(f"{where}.{key}", logs.get(key), low=0, high=65535)
        if number is not None:
            found[key] = number
    return found


def parse_l4rule(body: Mapping[str, Any]) -> tuple[L4RuleEffect | None, Verdict]:
    """The effect of an L4Rule body and its verdict (None: rejected, the verdict says why)."""
    obj = cr_ref(KIND, body)
    spec = body.get("spec")
    r = _Reader(obj)
    if not isinstance(spec, Mapping):
        if spec is not None:
            r.problem("", f"must be an object, not {quoted(spec)}")
        spec = {}
    unsupported: list[str] = []
    ip = spec.get("loadBalancerIP")
    if ip not in (None, ""):
        try:
            ipaddress.ip_address(str(ip))
        except ValueError:
            r.problem("loadBalancerIP", f"is not an IP address: {quoted(ip)}")
    listeners = _listeners(r, spec.get("listenerProperties"))
    ssl = any(li.enable_ssl for li in listeners)
    refs = tuple((f, name) for f, name in ((f, r.ref(f, t, spec.get(f))) for f, t in VS_REFS) if name)
    datascripts = r.names("vsDatascriptRefs", "vsdatascriptset", spec.get("vsDatascriptRefs"))
    certificates = r.names("sslKeyAndCertificateRefs", "sslkeyandcertificate", spec.get("sslKeyAndCertificateRefs"))
    # AKO: the VS's SSL profile and certificates are for SSL termination only.
    if not ssl:
        if spec.get("sslProfileRef"):
            r.problem("sslProfileRef", "is set but no port of listenerProperties has enableSsl: true")
        if certificates:
            r.problem("sslKeyAndCertificateRefs", "are set but no port of listenerProperties has enableSsl: true")
    limits = spec.get("performanceLimits")
    max_conn = max_tput = None
    if limits is not None:
        if not isinstance(limits, Mapping):
            r.problem("performanceLimits", f"must be an object, not {quoted(limits)}")
        else:
            max_conn = r.integer("performanceLimits.maxConcurrentConnections", limits.get("maxConcurrentConnections"),
                                 low=0, high=65535)
            max_tput = r.integer("performanceLimits.maxThroughput", limits.get("maxThroughput"), low=0, high=65535)
    logs = _full_client_logs(r, spec.get("analyticsPolicy"))
    raw_backends = spec.get("backendProperties")
    backends: list[Backend] = []
    if raw_backends is not None and not isinstance(raw_backends, list):
        r.problem("backendProperties", f"must be a list, not {quoted(raw_backends)}")
    for i, raw in enumerate(raw_backends if isinstance(raw_backends, list) else []):
        backend = _backend(r, i, raw, unsupported)
        if backend is not None:
            backends.append(backend)
    revoke = r.boolean("revokeVipRoute", spec.get("revokeVipRoute"))
    if revoke:
        r.problem("revokeVipRoute", "is supported in NSX-T clouds only (AKO rejects it elsewhere too)")
    unsupported += [f"{SPEC}.{k}" for k in sorted(spec) if k not in KNOWN]
    verdict = Verdict(problems=tuple(r.problems), refs=tuple(r.refs), unsupported=tuple(unsupported))
    if r.problems:
        return None, verdict
    return L4RuleEffect(
        ref=obj, age=cr_age(body), refs=refs, datascripts=datascripts, certificates=certificates,
        load_balancer_ip=str(ip or ""), max_connections=max_conn, max_throughput=max_tput, full_client_logs=logs,
        listeners=listeners, backends=tuple(backends)), verdict


def named_rule(service: Mapping[str, Any]) -> tuple[str, str] | None:
    """The L4Rule a Service's annotation names, as (namespace, name); None without the annotation."""
    value = str((service.get("annotations") or {}).get(ANNOTATION) or "").strip()
    if not value:
        return None
    namespace, _, name = value.rpartition("/")
    return (namespace or str(service.get("namespace", "")), name)


# AKO's checkForL4SSLAppProfile and checkForNetworkProfileTypeTCP: the types an L4Rule's profiles must have.
APP_TYPE_L4 = "APPLICATION_PROFILE_TYPE_L4"
APP_TYPE_SSL = "APPLICATION_PROFILE_TYPE_SSL"
TCP_PROXY_TYPE = "PROTOCOL_TYPE_TCP_PROXY"
DEFAULT_APP_PROFILE = "System-L4-Application"


@dataclass(frozen=True, slots=True)
class TypeRead:
    """A profile whose type decides whether the L4Rule is accepted: read from the controller."""

    field: str
    obj_type: str
    name: str
    fields: str  # the `fields` query of the read


def _spec_of(body: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = body.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _ssl_of(spec: Mapping[str, Any]) -> bool:
    listeners = spec.get("listenerProperties")
    return isinstance(listeners, list) and any(isinstance(li, Mapping) and li.get("enableSsl") is True
                                               for li in listeners)


def type_reads(body: Mapping[str, Any]) -> tuple[TypeRead, ...]:
    """The profiles of an L4Rule whose type AKO checks: the application profile, and with SSL the network profile."""
    spec = _spec_of(body)
    reads = []
    app = spec.get("applicationProfileRef")
    if isinstance(app, str) and app:
        reads.append(TypeRead(f"{SPEC}.applicationProfileRef", "applicationprofile", app, "name,type"))
        net = spec.get("networkProfileRef")
        if _ssl_of(spec) and isinstance(net, str) and net:
            reads.append(TypeRead(f"{SPEC}.networkProfileRef", "networkprofile", net, "name,profile"))
    return tuple(reads)


def judge_types(body: Mapping[str, Any], found: Mapping[str, Mapping[str, Any] | None]) -> list[Problem]:
    """AKO's `ValidateL4RuleObj` on the profiles' types (`found`: field -> the object read, None if missing)."""
    obj = cr_ref(KIND, body)
    spec = _spec_of(body)
    app = found.get(f"{SPEC}.applicationProfileRef")
    if app is None:
        return []  # not named, or missing (the ref check says so)

    def problem(where: str, message: str) -> Problem:
        return Problem(obj=obj, field=f"{SPEC}.{where}", reason="AviObjectType", message=message)

    name = str(spec.get("applicationProfileRef"))
    kind = str(app.get("type") or "")
    ssl = _ssl_of(spec)
    if kind == APP_TYPE_SSL:
        if not ssl:
            return [problem("applicationProfileRef", f"{quoted(name)} is of type {APP_TYPE_SSL} but no port of "
                                                     "listenerProperties has enableSsl: true")]
        net = found.get(f"{SPEC}.networkProfileRef")
        net_type = str((net.get("profile") or {}).get("type") or "") if net is not None else TCP_PROXY_TYPE
        if net_type != TCP_PROXY_TYPE:
            return [problem("networkProfileRef", f"{quoted(spec.get('networkProfileRef'))} is of type "
                                                 f"{net_type or 'unknown'}; L4 SSL needs {TCP_PROXY_TYPE}")]
        return []
    if kind == APP_TYPE_L4:
        problems = []
        if ssl and name != DEFAULT_APP_PROFILE:
            problems.append(problem("applicationProfileRef", f"SSL is enabled in listenerProperties but {quoted(name)} "
                                                             f"is of type {APP_TYPE_L4}, not {APP_TYPE_SSL}"))
        if spec.get("sslProfileRef"):
            problems.append(problem("sslProfileRef", f"is set but the application profile {quoted(name)} is not of "
                                                     f"type {APP_TYPE_SSL}"))
        if spec.get("sslKeyAndCertificateRefs"):
            problems.append(problem("sslKeyAndCertificateRefs", f"are set but the application profile {quoted(name)} "
                                                                f"is not of type {APP_TYPE_SSL}"))
        return problems
    return [problem("applicationProfileRef", f"{quoted(name)} is of type {kind or 'unknown'}; an L4 virtual "
                                             f"service needs {APP_TYPE_L4} or {APP_TYPE_SSL}")]
