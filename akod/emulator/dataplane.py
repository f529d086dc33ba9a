"""Which pool would serve a request: the controller's data plane, evaluated from the stored config.

A configuration can be accepted by the controller and still route nothing: a rule with the wrong
host, a redirect loop, a path rule shadowed by a shorter one, an SNI child whose host is misspelt.
Tests need to see traffic, not objects, so `GET /_emulator/route` answers the question a client's
request would: given the VIP address and port it connects to, the host it names (Host header and,
on a TLS port, SNI) and the path, which virtual service takes it and where it goes.

The evaluation follows the controller:

1. The virtual service is the one whose VsVip holds the address (`vip[].ip_address` or
   `ip6_address`) and whose `services` cover the port (`port`..`port_range_end`).
2. A `VS_TYPE_VH_PARENT` on a port with `enable_ssl` hands the connection to the enabled
   `VS_TYPE_VH_CHILD` whose `vh_parent_vs_ref` is that parent and whose `vh_domain_name` holds the
   host (exact, case-insensitive; `*.example.com` matches any name below `example.com`); with no
   such child the parent serves it. On a TLS port the answer names the certificate presented: the
   first of the serving VS's `ssl_key_and_certificate_refs` (a child without one: the parent's).
3. The serving VS's `http_policies` in ascending `index`; in each policy set the enabled
   `http_request_policy.rules` in ascending `index`; the first rule whose every match clause holds
   decides. Clauses evaluated: `host_hdr`, `path` (`match_str` and `string_group_refs`), `vs_port`,
   `protocol`, `method` (the request's method defaults to GET). A rule using any other clause is
   answered with 501 naming it, rather than guessed.
4. The decision: `redirect_action` (the target host and path: the request's, unless the action
   gives them as constant string tokens), `switching_action` to a pool, to a pool group (its
   eligible members with the highest numeric `priority_label`; no labels: all of them; eligible:
   ratio not 0, not `OUT_OF_SERVICE`, pool enabled) or a local response. A matching rule with
   neither action, or no matching rule, leaves the request to the VS's `pool_ref` /
   `pool_group_ref`; without one nothing serves it.

The answer always has every key, so a client can index it whatever the outcome: `served`, `vs`
(CONTRACT.md's name for the serving VS; `virtualservice` is the same value), `tls`,
`certificate`, `policy_set`, `rule`, `pool` (null unless exactly one pool serves), `pools`,
`pool_group`, `servers` (`[{ip, port, enabled, pool}]`), `redirect` (`{protocol, port,
status_code, host, location}`), plus `local_response` for a local response and `reason` when
nothing serves it (HTTP 404, as CONTRACT.md says; 200 otherwise).

Not modelled: health (every enabled pool is eligible, every server listed with its `enabled`
flag), load balancing among the servers, `priority_labels_ref` objects, datascripts, L4 policies.
Finding the VsVip of an address scans the VsVips; everything after that follows indexed refs.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

from akod.emulator.errors import ApiError
from akod.emulator.refs import Ref
from akod.emulator.store import Store, StoredObject

PARENT = "VS_TYPE_VH_PARENT"
CHILD = "VS_TYPE_VH_CHILD"

#: Match clauses this data plane evaluates; any other one in a rule is a 501.
EVALUATED = frozenset({"host_hdr", "path", "vs_port", "protocol", "method"})


@dataclass(frozen=True, slots=True)
class Request:
    vip: str
    port: int
    host: str
    path: str
    method: str = "GET"


@dataclass(frozen=True, slots=True)
class Answer:
    served: bool
    body: dict[str, Any]


def route(*, store: Store, request: Request) -> Answer:
    """How the controller's data plane would handle `request`."""
    vs, service = _listener(store, request)
    if vs is None or service is None:
        return _not_served(_blank(), f"no virtual service listens on {request.vip}:{request.port}")
    tls = bool(service.get("enable_ssl"))
    target = _sni_child(store, vs, request.host) if tls and vs.body.get("type") == PARENT else None
    serving = target or vs
    body = _blank()
    body.update(vs=serving.name, virtualservice=serving.name, tls=tls,
                certificate=_certificate(store, serving, vs) if tls else None)
    if not _enabled(vs) or not _enabled(serving):
        return _not_served(body, f"virtual service {serving.name} is disabled")
    for policy_set, rule in _rules(store, serving):
        if _holds(store, rule, request=request, tls=tls, policy_set=policy_set):
            body.update(policy_set=policy_set.name, rule=rule.get("name"))
            return _decide(store, serving, rule, request=request, body=body)
    return _default(store, serving, body, reason="no rule matched")


# -- which virtual service ---------------------------------------------------------------------


def _listener(store: Store, request: Request) -> tuple[StoredObject | None, dict[str, Any] | None]:
    address = ipaddress.ip_address(request.vip)
    for vsvip in store.of_type("vsvip"):
        if not any(_holds_address(vip, address) for vip in vsvip.body.get("vip") or []):
            continue
        for vs in store.referrers(vsvip.uuid):
            if vs.type != "virtualservice" or vs.body.get("vsvip_ref") != Ref("vsvip", vsvip.uuid):
                continue
            for service in vs.body.get("services") or []:
                first = service.get("port")
                last = service.get("port_range_end") or first
                if first is not None and first <= request.port <= last:
                    return vs, service
    return None, None


def _holds_address(vip: dict[str, Any], address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    for key in ("ip_address", "ip6_address"):
        addr = (vip.get(key) or {}).get("addr")
        if addr:
            try:
                if ipaddress.ip_address(addr) == address:
                    return True
            except ValueError:
                continue
    return False


def _sni_child(store: Store, parent: StoredObject, host: str) -> StoredObject | None:
    wanted = host.lower()
    for child in store.referrers(parent.uuid):
        if child.type != "virtualservice" or child.body.get("type") != CHILD:
            continue
        if child.body.get("vh_parent_vs_ref") != Ref("virtualservice", parent.uuid) or not _enabled(child):
            continue
        for name in child.body.get("vh_domain_name") or []:
            name = name.lower()
            if name == wanted or (name.startswith("*.") and wanted.endswith(name[1:])):
                return child
    return None


def _certificate(store: Store, serving: StoredObject, parent: StoredObject) -> str | None:
    for vs in (serving, parent):
        for ref in vs.body.get("ssl_key_and_certificate_refs") or []:
            if isinstance(ref, Ref):
                return store.name_of(ref.uuid) or ref.hint
    return None


def _enabled(vs: StoredObject) -> bool:
    return vs.body.get("enabled", True) is not False and vs.body.get("traffic_enabled", True) is not False


# -- rules ------------------------------------------------------------------------------------------


def _rules(store: Store, vs: StoredObject) -> list[tuple[StoredObject, dict[str, Any]]]:
    """The enabled request rules of the VS's policy sets, in evaluation order."""
    ordered: list[tuple[StoredObject, dict[str, Any]]] = []
    for entry in sorted(vs.body.get("http_policies") or [], key=lambda p: p.get("index", 0)):
        ref = entry.get("http_policy_set_ref")
        policy_set = store.get(ref.uuid) if isinstance(ref, Ref) else None
        if policy_set is None:
            continue
        rules = (policy_set.body.get("http_request_policy") or {}).get("rules") or []
        for rule in sorted(rules, key=lambda r: r.get("index", 0)):
            if rule.get("enable", True) is not False:
                ordered.append((policy_set, rule))
    return ordered


def _holds(store: Store, rule: dict[str, Any], *, request: Request, tls: bool,
           policy_set: StoredObject) -> bool:
    match = rule.get("match") or {}
    for clause in match:
        if clause not in EVALUATED:
            raise ApiError(
                501, f"rule '{rule.get('name')}' of HTTP policy set '{policy_set.name}' matches on "
                f"'{clause}', which the emulator's data plane does not evaluate"
            )
    host_hdr, path, vs_port = match.get("host_hdr"), match.get("path"), match.get("vs_port")
    protocol, method = match.get("protocol"), match.get("method")
    if host_hdr is not None and not _host_holds(host_hdr, request.host):
        return False
    if path is not None and not _path_holds(store, path, request.path):
        return False
    if vs_port is not None and (request.port in (vs_port.get("ports") or [])) != _positive(vs_port):
        return False
    if protocol is not None:
        scheme = "HTTPS" if tls else "HTTP"
        given = protocol.get("protocols")
        listed = scheme in given if isinstance(given, list) else scheme == given
        if listed != _positive(protocol):
            return False
    if method is not None:
        listed = f"HTTP_METHOD_{request.method.upper()}" in (method.get("methods") or [])
        if listed != _positive(method):
            return False
    return True


def _positive(clause: dict[str, Any]) -> bool:
    return clause.get("match_criteria") != "IS_NOT_IN"


def _host_holds(clause: dict[str, Any], host: str) -> bool:
    criteria = str(clause.get("match_criteria", ""))
    if criteria == "HDR_EXISTS":
        return bool(host)
    if criteria == "HDR_DOES_NOT_EXIST":
        return not host
    test = criteria.removeprefix("HDR_")
    return _strings_hold(test, clause.get("value") or [], host, sensitive=_sensitive(clause))


def _path_holds(store: Store, clause: dict[str, Any], path: str) -> bool:
    strings = list(clause.get("match_str") or [])
    for ref in clause.get("string_group_refs") or []:
        group = store.get(ref.uuid) if isinstance(ref, Ref) else None
        if group is not None:
            strings.extend(kv["key"] for kv in group.body.get("kv") or [] if "key" in kv)
    criteria = str(clause.get("match_criteria", "CONTAINS"))
    return _strings_hold(criteria, strings, path, sensitive=_sensitive(clause))


def _sensitive(clause: dict[str, Any]) -> bool:
    return bool(clause.get("match_case", "INSENSITIVE") == "SENSITIVE")


#: Negated criteria hold when the positive one holds for none of the strings.
_NEGATED = {
    "DOES_NOT_BEGIN_WITH": "BEGINS_WITH", "DOES_NOT_CONTAIN": "CONTAINS",
    "DOES_NOT_END_WITH": "ENDS_WITH", "DOES_NOT_EQUAL": "EQUALS",
    "REGEX_DOES_NOT_MATCH": "REGEX_MATCH",
}


def _strings_hold(criteria: str, strings: list[str], subject: str, *, sensitive: bool) -> bool:
    if criteria in _NEGATED:
        return not _strings_hold(_NEGATED[criteria], strings, subject, sensitive=sensitive)
    if criteria == "REGEX_MATCH":
        flags = 0 if sensitive else re.IGNORECASE
        return any(_search(pattern, subject, flags) for pattern in strings)
    if not sensitive:
        subject, strings = subject.lower(), [s.lower() for s in strings]
    tests: dict[str, Callable[[str, str], bool]] = {
        "BEGINS_WITH": str.startswith, "EQUALS": str.__eq__,
        "CONTAINS": str.__contains__, "ENDS_WITH": str.endswith,
    }
    test = tests.get(criteria)
    if test is None:
        raise ApiError(501, f"match criteria '{criteria}' is not evaluated by the emulator's data plane")
    return any(test(subject, s) for s in strings)


def _search(pattern: str, subject: str, flags: int) -> bool:
    try:
        return re.search(pattern, subject, flags) is not None
    except re.error:
        return False  # the controller refuses such a regex; a stored one can only come from a bug


# -- decisions ----------------------------------------------------------------------------------


def _decide(store: Store, vs: StoredObject, rule: dict[str, Any], *, request: Request,
            body: dict[str, Any]) -> Answer:
    redirect = rule.get("redirect_action")
    if redirect is not None:
        body["redirect"] = _redirect(redirect, request)
        return Answer(served=True, body=body)
    switching = rule.get("switching_action")
    if switching is None:
        return _default(store, vs, body, reason=f"rule '{rule.get('name')}' selects nothing")
    action = switching.get("action")
    if action == "HTTP_SWITCHING_SELECT_LOCAL":
        code = str(switching.get("status_code", "HTTP_LOCAL_RESPONSE_STATUS_CODE_200"))
        body["local_response"] = {"status_code": int(code.rsplit("_", 1)[-1])}
        return Answer(served=True, body=body)
    if action == "HTTP_SWITCHING_SELECT_POOLGROUP":
        return _to_pool_group(store, switching.get("pool_group_ref"), body)
    return _to_pools(store, [switching.get("pool_ref")], body, server=switching.get("server"))


def _default(store: Store, vs: StoredObject, body: dict[str, Any], *, reason: str) -> Answer:
    if isinstance(vs.body.get("pool_group_ref"), Ref):
        return _to_pool_group(store, vs.body["pool_group_ref"], body)
    if isinstance(vs.body.get("pool_ref"), Ref):
        return _to_pools(store, [vs.body["pool_ref"]], body)
    return _not_served(body, reason)


def _to_pool_group(store: Store, ref: Any, body: dict[str, Any]) -> Answer:
    group = store.get(ref.uuid) if isinstance(ref, Ref) else None
    if group is None:
        return _not_served(body, "the selected pool group does not exist")
    body["pool_group"] = group.name
    eligible: list[tuple[dict[str, Any], StoredObject]] = []
    for member in group.body.get("members") or []:
        pool_ref = member.get("pool_ref")
        pool = store.get(pool_ref.uuid) if isinstance(pool_ref, Ref) else None
        if (pool is None or member.get("ratio", 1) == 0
                or member.get("deployment_state") == "OUT_OF_SERVICE"
                or pool.body.get("enabled", True) is False):
            continue
        eligible.append((member, pool))
    ranks = [_priority(m) for m, _ in eligible]
    numeric = [r for r in ranks if r is not None]
    if numeric:
        best = max(numeric)
        eligible = [(m, p) for (m, p), r in zip(eligible, ranks, strict=True) if r == best]
    if not eligible:
        return _not_served(body, f"pool group {group.name} has no eligible pool")
    return _to_pools(store, [Ref("pool", p.uuid) for _, p in eligible], body)


def _priority(member: dict[str, Any]) -> int | None:
    label = member.get("priority_label")
    try:
        return int(label) if label is not None else None
    except ValueError:
        return None


def _to_pools(store: Store, refs: list[Any], body: dict[str, Any], *,
              server: dict[str, Any] | None = None) -> Answer:
    pools = [store.get(r.uuid) for r in refs if isinstance(r, Ref)]
    found = [p for p in pools if p is not None]
    if not found:
        return _not_served(body, "the selected pool does not exist")
    body["pools"] = [p.name for p in found]
    body["pool"] = found[0].name if len(found) == 1 else None
    servers = [s for p in found for s in _servers(p)]
    if server is not None:  # a rule that picks one server of the pool
        addr = (server.get("ip") or {}).get("addr")
        servers = [s for s in servers if s["ip"] == addr and server.get("port") in (None, s["port"])]
    body["servers"] = servers
    return Answer(served=True, body=body)


def _servers(pool: StoredObject) -> list[dict[str, Any]]:
    default_port = pool.body.get("default_server_port", 80)
    return [
        {
            "ip": (s.get("ip") or {}).get("addr"),
            "port": s.get("port") or default_port,  # 0 or absent: the pool's port
            "enabled": s.get("enabled", True) is not False,
            "pool": pool.name,
        }
        for s in pool.body.get("servers") or []
    ]


def _redirect(action: dict[str, Any], request: Request) -> dict[str, Any]:
    protocol = str(action.get("protocol", "HTTP"))
    port = action.get("port") or (443 if protocol == "HTTPS" else 80)
    code = str(action.get("status_code", "HTTP_REDIRECT_STATUS_CODE_302"))
    host = _constant(action.get("host"), "host") or request.host
    path = _constant(action.get("path"), "path") or request.path
    default_port = (protocol == "HTTPS" and port == 443) or (protocol == "HTTP" and port == 80)
    authority = host if default_port else f"{host}:{port}"
    return {
        "protocol": protocol,
        "port": port,
        "status_code": int(code.rsplit("_", 1)[-1]),
        "host": host,
        "location": f"{protocol.lower()}://{authority}{path}",
    }


def _constant(param: dict[str, Any] | None, what: str) -> str | None:
    """A redirect's host or path given as constant string tokens; anything else is a 501."""
    if not param:
        return None
    parts = []
    for token in param.get("tokens") or []:
        if token.get("type") != "URI_TOKEN_TYPE_STRING":
            raise ApiError(501, f"redirect {what} token '{token.get('type')}' is not evaluated by "
                                "the emulator's data plane")
        parts.append(str(token.get("str_value", "")))
    return "".join(parts) or None


# -- answers ------------------------------------------------------------------------------------


def _blank() -> dict[str, Any]:
    """Every key of an answer, so clients can index it whatever the outcome."""
    return {"served": True, "vs": None, "virtualservice": None, "tls": False, "certificate": None,
            "policy_set": None, "rule": None, "pool": None, "pools": [], "pool_group": None,
            "servers": [], "redirect": None}


def _not_served(body: dict[str, Any], reason: str) -> Answer:
    body.update(served=False, reason=reason)
    return Answer(served=False, body=body)
