"""The L7 family's index: which Ingresses feed which keys, and what each Ingress uses.

An event must mark exactly the keys it can change, without scanning every Ingress: an Ingress's
old and new shards, the shards of the Ingresses that use a Service whose endpoints moved or a
Secret that was rotated. The bodies themselves live in the cluster cache; this index keeps only
the relations (and a fingerprint per Ingress, so that the status akod writes back itself never
looks like a change).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from akod.model.checksums import checksum
from akod.model.problems import Problem

IngId = tuple[str, str]
Ref = tuple[str, str]  # a Service or a Secret, (namespace, name)


def backends_of(body: Mapping[str, Any]) -> set[Ref]:
    ns = str(body.get("namespace", ""))
    names = {str(p.get("service") or "") for rule in body.get("rules") or [] for p in rule.get("paths") or []}
    default = body.get("default_backend") or {}
    names.add(str(default.get("service") or ""))
    return {(ns, n) for n in names if n}


def secrets_of(body: Mapping[str, Any]) -> set[Ref]:
    ns = str(body.get("namespace", ""))
    return {(ns, str(t.get("secret") or "")) for t in body.get("tls") or [] if t.get("secret")}


def fingerprint(body: Mapping[str, Any]) -> str:
    """What of an Ingress the translation reads: everything but what akod writes back itself."""
    return checksum({k: v for k, v in body.items() if k not in ("lb_ingress", "fqdn_map")})


class L7Index:
    """Ingress -> keys, key -> Ingresses, Service/Secret -> Ingresses, and Ingresses with no host."""

    def __init__(self) -> None:
        self.keys_of: dict[IngId, frozenset[str]] = {}
        self.members: dict[str, set[IngId]] = {}
        self.fingerprint: dict[IngId, str] = {}
        self.users: dict[Ref, set[IngId]] = {}  # Service or Secret -> the Ingresses that use it
        self.uses: dict[IngId, set[Ref]] = {}  # the reverse: what each Ingress uses
        self.hostless: dict[IngId, tuple[Problem, ...]] = {}  # ours, but no host to serve: no key reports it

    def assign(self, ing: IngId, keys: frozenset[str]) -> frozenset[str]:
        old = self.keys_of.pop(ing, frozenset())
        for key in old:
            group = self.members.get(key)
            if group is not None:
                group.discard(ing)
                if not group:
                    del self.members[key]
        if keys:
            self.keys_of[ing] = keys
            for key in keys:
                self.members.setdefault(key, set()).add(ing)
        return old

    def link(self, ing: IngId, body: Mapping[str, Any] | None) -> None:
        """Record which Services and Secrets `ing` uses (None: it uses none any more)."""
        for ref in self.uses.pop(ing, set()):
            self.users[ref].discard(ing)
            if not self.users[ref]:
                del self.users[ref]
        if body is not None:
            self.uses[ing] = backends_of(body) | secrets_of(body)
            for ref in self.uses[ing]:
                self.users.setdefault(ref, set()).add(ing)

    def forget(self, ing: IngId) -> frozenset[str]:
        """`ing` is gone (deleted, or no longer ours): drop it everywhere; return the keys it had."""
        self.fingerprint.pop(ing, None)
        self.link(ing, None)
        self.hostless.pop(ing, None)
        return self.assign(ing, frozenset())

    def keys_using(self, refs: Iterable[Ref]) -> set[str]:
        return {key for ref in refs for ing in self.users.get(ref, ()) for key in self.keys_of.get(ing, ())}
