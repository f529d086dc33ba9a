"""The HTTP request rules that route a host and path, and how a shard's rules are grouped by host.

The data plane evaluates enabled rules by ascending `index`; the first whose every match clause
holds decides. Within one host the order therefore matters: the 80 -> 443 redirect of a TLS host
first, then its paths longest first (a prefix `/` must not shadow `/foo`), an `Exact` path before
the prefix of the same path. Between hosts it does not (a rule matches one host header exactly).

A shared VS's policy set holds the rules of thousands of hosts, so the sync layer patches it per
host instead of rewriting it (see `akod.sync.rulesets`). For that the model emits those rules
*without* `index`, grouped by host, and names them `<host>|<group checksum>|<i>`: the checksum
(8 hex digits over the group's rules without names) makes a changed group's names new, so the
controller's copy says by itself which groups are current. Small policy sets (an SNI child's, a
dedicated VS's) get plain names `<policy set>-<i>` and indexes 0.., and are written whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from akod.model.checksums import checksum
from akod.model.objects import name_ref

RULE_NAME_SEPARATOR = "|"
GROUP_CHECKSUM_LENGTH = 8
HTTP_PORT = 80
HTTPS_PORT = 443


@dataclass(frozen=True, slots=True)
class Route:
    """A host+path and where it goes: a pool (shared or dedicated VS) or a pool group (SNI child)."""

    host: str
    path: str
    exact: bool
    pool: str = ""
    pool_group: str = ""


def route_order(route: Route) -> tuple[int, int, str, str]:
    """Longest path first, Exact before Prefix for the same path; then by path and target."""
    return (-len(route.path), 0 if route.exact else 1, route.path, route.pool or route.pool_group)


def _host_match(host: str) -> dict[str, Any]:
    return {"match_criteria": "HDR_EQUALS", "value": [host]}


def switching_rule(route: Route) -> dict[str, Any]:
    """Host header equals, path begins with (equals for `Exact`): select the pool or pool group."""
    path = {"match_criteria": "EQUALS" if route.exact else "BEGINS_WITH", "match_case": "SENSITIVE",
            "match_str": [route.path]}
    if route.pool_group:
        action = {"action": "HTTP_SWITCHING_SELECT_POOLGROUP", "pool_group_ref": name_ref("poolgroup", route.pool_group)}
    else:
        action = {"action": "HTTP_SWITCHING_SELECT_POOL", "pool_ref": name_ref("pool", route.pool)}
    return {"enable": True, "match": {"host_hdr": _host_match(route.host), "path": path}, "switching_action": action}


def redirect_rule(host: str) -> dict[str, Any]:
    """Plain HTTP to a TLS host: 302 to HTTPS on 443."""
    return {
        "enable": True,
        "match": {"host_hdr": _host_match(host), "vs_port": {"match_criteria": "IS_IN", "ports": [HTTP_PORT]}},
        "redirect_action": {"protocol": "HTTPS", "port": HTTPS_PORT, "status_code": "HTTP_REDIRECT_STATUS_CODE_302"},
    }


def host_rules(*, host: str, routes: Iterable[Route], redirect: bool) -> list[dict[str, Any]]:
    """The rules of one host, unnamed and unindexed, in evaluation order."""
    rules = [redirect_rule(host)] if redirect else []
    return rules + [switching_rule(r) for r in sorted(routes, key=route_order)]


def group_checksum(rules: Sequence[Mapping[str, Any]]) -> str:
    """8 hex digits over a host's rules, names and indexes left out."""
    bare = [{k: v for k, v in rule.items() if k not in ("name", "index")} for rule in rules]
    return checksum(bare)[:GROUP_CHECKSUM_LENGTH]


def named_group(host: str, rules: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A shared VS's rules of one host, named `<host>|<group checksum>|<i>`, without `index`."""
    group = group_checksum(rules)
    return [{"name": RULE_NAME_SEPARATOR.join((host, group, str(i))), **rule} for i, rule in enumerate(rules)]


def indexed(prefix: str, rules: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A small policy set's rules, named `<prefix>-<i>` with `index` i."""
    return [{"name": f"{prefix}-{i}", "index": i, **rule} for i, rule in enumerate(rules)]


def rule_groups(body: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """A shard policy set's rules by host (the first part of their names), in body order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for rule in (body.get("http_request_policy") or {}).get("rules") or ():
        host = str(rule.get("name", "")).split(RULE_NAME_SEPARATOR)[0]
        groups.setdefault(host, []).append(dict(rule))
    return groups
