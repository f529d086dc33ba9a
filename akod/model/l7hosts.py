"""One Ingress read into host/path routes, with what is wrong in it named field by field.

This is the syntactic part of the L7 translation: it needs nothing but the Ingress (and the
default domain), so selection (`keys_of_ingress`) and translation read an Ingress the same way.
What depends on other objects (backend Services, Secrets, other Ingresses claiming the same
host+path) is judged later, by the translation of the key.

Decisions, AKO's unless said otherwise (reference §3.2, `ParseHostPathForIngress`):
- A rule without `host:` is served as `<ing>.<ns>.<default_domain>` when a default domain is
  set; otherwise it is skipped (`NoHost`).
- A host that is not a plain lower-case DNS name is refused (`InvalidHost`): wildcards (AKO
  serves them only in EVH mode), upper case, a trailing dot, more than 253 characters, or any
  other character or label shape DNS does not allow. Hosts are not lower-cased on the user's
  behalf: the Ingress would then be shown served under a name it does not carry.
- A path must start with `/` (`InvalidPath`); an empty path means `/`. `pathType: Exact`
  matches the path exactly, `Prefix` and `ImplementationSpecific` as a prefix (AKO: "PathTypePrefix
  and PathTypeImplementationSpecific: default behaviour for AKO set be Prefix match on the path").
- A path is matched literally, so it must be something a request's path can be (`path_problem`):
  - control characters, raw or percent-encoded (`%00`), and a `%` without two hex digits are
    refused (`InvalidPath`);
  - so are characters a client never sends unencoded in a path (RFC 3986: space, `"`, `#`, `<`,
    `>`, `?`, `[`, `]`, `^`, `{`, `|`, `}`, a backquote or backslash, anything outside ASCII): a
    rule holding one would never match (`/foo(.*)$[a-z]+`);
  - the sequences Kubernetes refuses in Prefix and Exact paths (`//`, `/./`, `/../`, `%2f`, a
    trailing `/.` or `/..`) are refused in ImplementationSpecific paths too, since akod serves
    those as prefixes;
  - decision: an ImplementationSpecific path holding regular-expression syntax (`* + ? ( ) [ ]
    { } | ^ $` or a backslash, e.g. `/api/v[0-9]+/.*`) is refused (`RegexPathNotSupported`)
    instead of being served as a literal prefix that matches nothing its author meant; AKO serves
    it literally without a word;
  - a path over `MAX_PATH_LENGTH` characters is refused (`PathTooLong`): every object name holding
    it would pass the controller's 255.
  Such a path is an error on its own field (`spec.rules[i].http.paths[j].path`); the other paths
  of the rule, the other hosts of the Ingress and every other Ingress of the shard are served.
- A rule without paths, or a path whose backend is not a Service, has nothing to route to: it
  is skipped (`NoBackend`, scenario 21). A backend without a port gets port 80.
- `spec.defaultBackend` is not served: traffic only reaches hosts and paths named by rules.
- The first `spec.tls` entry that lists a host decides its Secret; a TLS host without any rule
  serves nothing and is ignored.

Problems are tagged with the host they belong to, so that the translation of each shard reports
those of its own hosts; problems of no host (`host == ""`) are reported once, by the first key of
the Ingress, or by the caller when the Ingress has no key at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from akod.model.l4fqdn import DNS_LABEL_LENGTH, DNS_NAME_LENGTH
from akod.model.l7context import L7Context, ingress_age, ingress_ref
from akod.model.problems import ObjectRef, Problem, quoted

DEFAULT_BACKEND_PORT = 80
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_PATH_LENGTH = 255  # the controller's longest object name, and every pool name holds the path
IMPLEMENTATION_SPECIFIC = "ImplementationSpecific"
# RFC 3986 `path`: unreserved, sub-delims, ':', '@', '/' and percent-escapes; nothing else is ever
# in a request's path as sent, so a rule holding anything else can never match.
_PATH_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")
_ESCAPE = re.compile(r"%(?P<hex>[0-9A-Fa-f]{2})?")
_REGEX_SYNTAX = frozenset("*+?()[]{}|^$\\")
# What Kubernetes refuses in Prefix and Exact paths (validateHTTPIngressPath).
_KUBE_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_KUBE_SUFFIXES = ("/..", "/.")


V1_BACKEND_FIELDS = ("backend.service.name", "backend.service.port.name", "backend.service.port.number")


def spelling(ingress: Mapping[str, Any]) -> tuple[str, tuple[str, str, str]]:
    """The default backend's field and the backend fields, as the trim says its API spells them."""
    names = ingress.get("field_names") or {}
    backend = tuple(names.get("backend") or V1_BACKEND_FIELDS)
    return str(names.get("default_backend") or "spec.defaultBackend"), (backend[0], backend[1], backend[2])


@dataclass(frozen=True, slots=True)
class HostPath:
    """One path of one rule: a route claimed by an Ingress, before its backend is checked."""

    namespace: str
    ingress: str
    age: tuple[str, str, str]
    host: str
    path: str
    exact: bool
    service: str
    port_number: int | None  # None: by name
    port_name: str
    field: str  # "spec.rules[i].http.paths[j]"
    # Where, below `field`, the backend's Service name, port name and port number are spelled in
    # the API the Ingress was read from (v1 here; a v1beta1 body says `backend.serviceName`...).
    backend_fields: tuple[str, str, str] = V1_BACKEND_FIELDS

    @property
    def route(self) -> tuple[str, str, bool]:
        """What two Ingresses cannot both claim: host, path and whether the match is exact."""
        return self.host, self.path, self.exact


@dataclass(frozen=True, slots=True)
class TlsClaim:
    host: str
    secret: str
    field: str  # "spec.tls[i].secretName"


@dataclass(frozen=True, slots=True)
class HostProblem:
    host: str  # "" when the problem belongs to no host
    problem: Problem


@dataclass(frozen=True)
class ParsedIngress:
    ref: ObjectRef
    age: tuple[str, str, str]
    hosts: tuple[str, ...]  # every host the rules name, valid or not: they decide the keys
    paths: tuple[HostPath, ...]  # of valid hosts, with valid paths and a Service backend
    tls: Mapping[str, TlsClaim]
    problems: tuple[HostProblem, ...]


def default_host(*, ingress: Mapping[str, Any], ctx: L7Context) -> str:
    """`<ing>.<ns>.<default_domain>` for a rule without host; "" without a default domain."""
    domain = ctx.l4.default_domain.strip().removeprefix(".").rstrip(".")
    if not domain:
        return ""
    return f"{ingress.get('name', '')}.{ingress.get('namespace', '')}.{domain}"


def host_problem(host: str) -> str | None:
    """Why `host` cannot be served (None: it can)."""
    shown = quoted(host, limit=70)
    if "*" in host:
        return f"wildcard host {shown} is not supported; name each host"
    if host != host.lower():
        return f"host {shown} has upper-case letters; write it in lower case"
    if host.endswith("."):
        return f"host {shown} ends with a dot; remove the trailing dot"
    if len(host) > DNS_NAME_LENGTH:
        return f"host {shown} has {len(host)} characters, more than the {DNS_NAME_LENGTH} of a DNS name"
    labels = host.split(".")
    if not all(len(label) <= DNS_LABEL_LENGTH and _LABEL.match(label) for label in labels):
        return f"host {shown} is not a DNS name (lower-case letters, digits, '-' and '.' only)"
    return None


def _control(char: str) -> bool:
    return ord(char) < 0x20 or ord(char) == 0x7F


def path_problem(path: str, path_type: str) -> tuple[str, str] | None:
    """Why `path` (of `path_type`) cannot be served as a literal match: (reason, message), or None."""
    shown = quoted(path)
    if len(path) > MAX_PATH_LENGTH:
        return "PathTooLong", (f"path {shown} is longer than {MAX_PATH_LENGTH} characters: the pool that serves a "
                               f"path is named after it, and the controller's names hold at most {MAX_PATH_LENGTH}")
    if not path.startswith("/"):
        return "InvalidPath", f"path {shown} does not start with '/'"
    if any(_control(c) for c in path):
        return "InvalidPath", f"path {shown} holds a control character, which no request path can"
    for escape in _ESCAPE.finditer(path):
        code = escape.group("hex")
        if code is None:
            return "InvalidPath", f"path {shown} has a '%' that is not followed by two hex digits"
        if _control(chr(int(code, 16))):
            return "InvalidPath", (f"path {shown} encodes a control character ({quoted(escape.group(0))}), which "
                                   "the controller does not match")
    if path_type == IMPLEMENTATION_SPECIFIC and _REGEX_SYNTAX & set(path):
        return "RegexPathNotSupported", (
            f"path {shown} of pathType ImplementationSpecific looks like a regular expression; akod, like AKO, "
            "matches ImplementationSpecific paths as a literal prefix, which this one would never match; write the "
            "prefix with pathType Prefix (e.g. '/api/')")
    if not _PATH_CHARS.fullmatch(path):
        bad = next(c for c in path if not _PATH_CHARS.fullmatch(c))
        return "InvalidPath", (f"path {shown} holds {quoted(bad)}, which a client never sends unencoded in a "
                               "path: the rule could never match")
    sequence = next((q for q in _KUBE_SEQUENCES if q in path), None) or next(
        (q for q in _KUBE_SUFFIXES if path.endswith(q)), None)
    if sequence is not None:
        return "InvalidPath", (f"path {shown} holds {quoted(sequence)}, which Kubernetes refuses in Prefix and Exact "
                               "paths (akod serves every path as one of those)")
    return None


def parse_ingress(*, ingress: Mapping[str, Any], ctx: L7Context) -> ParsedIngress:
    """The routes of one trimmed Ingress and the problems of its rules, paths and TLS section."""
    ref = ingress_ref(ingress)
    age = ingress_age(ingress)
    hosts: list[str] = []
    paths: list[HostPath] = []
    problems: list[HostProblem] = []

    def report(host: str, where: str, reason: str, message: str) -> None:
        problems.append(HostProblem(host=host, problem=Problem(obj=ref, field=where, reason=reason, message=message)))

    default_backend_field, backend_fields = spelling(ingress)
    if ingress.get("default_backend"):
        report("", default_backend_field, "DefaultBackendNotServed",
               "the default backend is not served; only the hosts and paths of the rules are")
    for i, rule in enumerate(ingress.get("rules") or ()):
        host_field = f"spec.rules[{i}].host"
        host = str(rule.get("host") or "") or default_host(ingress=ingress, ctx=ctx)
        if not host:
            report("", host_field, "NoHost", "the rule has no host and no default domain is set; it is not served")
            continue
        if host not in hosts:
            hosts.append(host)
        message = host_problem(host)
        if message is not None:
            report(host, host_field, "InvalidHost", message + "; the rule is not served")
            continue
        rule_paths = rule.get("paths") or ()
        if not rule_paths:
            report(host, f"spec.rules[{i}].http", "NoBackend",
                   f"the rule for host {host} has no path and backend; it is not served")
            continue
        for j, raw in enumerate(rule_paths):
            where = f"spec.rules[{i}].http.paths[{j}]"
            path = str(raw.get("path") or "/")
            path_type = str(raw.get("path_type") or "")
            refused = path_problem(path, path_type)
            if refused is not None:
                reason, message = refused
                report(host, f"{where}.path", reason, f"{message}; this path is not served")
                continue
            service = str(raw.get("service") or "")
            if not service:
                report(host, f"{where}.backend", "NoBackend",
                       f"the path {host}{path} has no Service backend; it is not served")
                continue
            number = raw.get("port_number")
            name = str(raw.get("port_name") or "")
            if not isinstance(number, int) and not name:
                number = DEFAULT_BACKEND_PORT
            paths.append(HostPath(
                namespace=ref.namespace, ingress=ref.name, age=age, host=host, path=path,
                exact=path_type == "Exact", service=service,
                port_number=number if isinstance(number, int) else None, port_name=name, field=where,
                backend_fields=backend_fields))
    tls: dict[str, TlsClaim] = {}
    for i, entry in enumerate(ingress.get("tls") or ()):
        for host in entry.get("hosts") or ():
            tls.setdefault(str(host), TlsClaim(host=str(host), secret=str(entry.get("secret") or ""),
                                               field=f"spec.tls[{i}].secretName"))
    return ParsedIngress(ref=ref, age=age, hosts=tuple(hosts), paths=tuple(paths), tls=tls, problems=tuple(problems))


def hostless_problems(*, ingress: Mapping[str, Any], ctx: L7Context) -> tuple[Problem, ...]:
    """The problems of an Ingress that belong to no host (e.g. `NoHost`).

    A translation reports them for the first key of the Ingress; an Ingress without any host has
    no key, so the caller reports these itself.
    """
    return tuple(p.problem for p in parse_ingress(ingress=ingress, ctx=ctx).problems if not p.host)
