"""Incremental writes of a shard's HTTP policy set: PATCH the changed hosts, never the whole list.

A shared L7 virtual service routes thousands of hosts through one policy set. Rewriting it for
every new path would send a request that grows with the shard (and race with nothing, but cost
the controller a full re-validation each time). The model therefore emits the shard's rules
grouped by host, named `<host>|<group checksum>|<i>`, and *without* `index`: the group checksum
in the names makes the controller's copy self-describing, and indexes are assigned here.

- A new object (POST) or a full rewrite (PUT) gets indexes 0..n-1 in the model's order.
- An existing object whose non-rule part (the "shell") is unchanged gets one PATCH that deletes
  the rules of hosts that changed or left and adds the rules of hosts that changed or came, with
  indexes above the highest one in use (a host's rules stay together, longest path first, and
  hosts never overlap, so the order between hosts does not matter). Added and deleted names never
  collide (a changed group has a new checksum in its names), so one PATCH is enough and it is
  atomic: a crash leaves either the old or the new rules, never half of each.

The shell's checksum travels in `description` (`akod-shell:<hex>`), so that after a restart the
applied state rebuilt from the controller still allows a PATCH instead of a rewrite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from akod.model.checksums import checksum
from akod.model.objects import AviObject, checksum_field

SEPARATOR = "|"
SHELL_PREFIX = "akod-shell:"
INDEX_LIMIT = 2**31 - 1  # rule indexes are int32 on the controller
RULES_FIELD = "http_request_policy"


def incremental(obj: AviObject) -> bool:
    """A policy set whose rules come without `index`: the sync layer places them."""
    if obj.obj_type != "httppolicyset":
        return False
    rules = _rules(obj.body)
    return bool(rules) and all("index" not in r for r in rules)


def _rules(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((body.get(RULES_FIELD) or {}).get("rules") or [])


def group_of(rule_name: str) -> str | None:
    """`<host>|<checksum>` of a rule akod named, None for any other rule."""
    parts = str(rule_name).split(SEPARATOR)
    if len(parts) != 3 or not parts[0] or not parts[1]:
        return None
    return SEPARATOR.join(parts[:2])


def shell_checksum(body: Mapping[str, Any]) -> str:
    """Checksum of everything but the rules and the fields the sync layer fills in."""
    skip = {RULES_FIELD, "description", "cloud_config_cksum"}
    return checksum({k: v for k, v in body.items() if k not in skip})


def applied_info(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the controller's copy says about its rules: groups by name, next free index, shell."""
    groups: dict[str, list[str]] = {}
    highest = -1
    for rule in _rules(body):
        highest = max(highest, int(rule.get("index", -1)))
        group = group_of(str(rule.get("name", "")))
        if group is not None:
            groups.setdefault(group, []).append(str(rule["name"]))
    description = str(body.get("description") or "")
    shell = description[len(SHELL_PREFIX):] if description.startswith(SHELL_PREFIX) else ""
    return {"groups": groups, "next": highest + 1, "shell": shell}


def full_payload(obj: AviObject, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The POST/PUT body: rules indexed 0..n-1 in order, the shell checksum in `description`."""
    rules = [{**rule, "index": i} for i, rule in enumerate(_rules(payload))]
    return {**payload, RULES_FIELD: {**(payload.get(RULES_FIELD) or {}), "rules": rules},
            "description": SHELL_PREFIX + shell_checksum(obj.body)}


@dataclass(frozen=True, slots=True)
class RulePatch:
    body: dict[str, Any]
    added: int
    deleted: int


def plan_patch(*, obj: AviObject, info: Mapping[str, Any]) -> RulePatch | None:
    """One PATCH from the applied rules (`info`) to `obj`'s; None when only a rewrite will do."""
    if not info or info.get("shell") != shell_checksum(obj.body):
        return None
    have: dict[str, Sequence[str]] = dict(info.get("groups") or {})
    want: dict[str, list[dict[str, Any]]] = {}
    for rule in _rules(obj.body):
        group = group_of(str(rule.get("name", "")))
        if group is None:
            return None  # a rule akod cannot place incrementally: write the whole set
        want.setdefault(group, []).append(rule)
    gone = [name for group, names in sorted(have.items()) if group not in want for name in names]
    new = [rule for group, rules in want.items() if group not in have for rule in rules]
    start = int(info.get("next") or 0)
    if start + len(new) > INDEX_LIMIT:
        return None  # indexes used up by years of edits: renumber with a rewrite
    operations: dict[str, Any] = {"replace": {checksum_field(obj.obj_type): obj.checksum}}
    if new:
        operations["add"] = {RULES_FIELD: {"rules": [{**rule, "index": start + i} for i, rule in enumerate(new)]}}
    if gone:
        operations["delete"] = {RULES_FIELD: {"rules": [{"name": name} for name in gone]}}
    return RulePatch(body=operations, added=len(new), deleted=len(gone))
