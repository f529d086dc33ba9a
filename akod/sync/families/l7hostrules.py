"""The L7 family's side of HostRules: which shards a HostRule acts on, and the accepted ones, parsed.

The HostRule family decides and records the effects (`akod.sync.crs.CrState`); the L7 translation
applies them (`akod.model.hostrule_apply`). In between, this helper answers the two questions the
L7 family gets: which of its keys serve a host that a HostRule's old or new spec matches (so that
an edit re-syncs exactly those shards), and the accepted HostRules as the translation reads them
(parsed again only when one changed); and it warns about the fields of a HostRule that a
plain host on a shared VS (or an SNI child) cannot take. A HostRule's certificate of `type:
secret` makes the shards serving its host depend on that Secret too (`keys_for_secrets`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from akod.kube.status import KubeWriter
from akod.model.hostrule import HostRuleEffect, HostRules, parse_hostrule
from akod.model.problems import ObjectRef
from akod.model.hostrule import KIND as HOSTRULE
from akod.sync.crs import CrState
from akod.sync.families.l7index import L7Index

log = logging.getLogger("akod.sync")


class L7HostRules:
    def __init__(self, *, crs: CrState, index: L7Index, ingresses: Callable[[], Mapping[tuple[str, str], Any]],
                 key_of: Callable[[str], str], present: Callable[[], Mapping[tuple[str, str], Any]]) -> None:
        self._crs = crs
        self._index = index
        self._ingresses = ingresses
        self._key_of = key_of  # host -> its L7 key (shard or dedicated VS)
        self._present = present  # the HostRules the cluster has now
        self._parsed: tuple[tuple[int, frozenset[tuple[str, str]]], HostRules] = ((-1, frozenset()), HostRules())
        self._warned: dict[ObjectRef, tuple[str, ...]] = {}
        crs.affects(HOSTRULE, self.keys_for)

    def accepted(self) -> HostRules:
        """The accepted effects of the HostRules that still exist (one deleted while akod was down
        is not applied at the restart, before its own key removes the effect)."""
        present = frozenset(self._present())
        memo = (self._crs.version(HOSTRULE), present)
        if self._parsed[0] != memo:
            effects = [parse_hostrule(e.body)[0] for ident, e in self._crs.effects(HOSTRULE).items()
                       if ident in present]
            self._parsed = (memo, HostRules(e for e in effects if e is not None))
        return self._parsed[1]

    async def warn(self, *, kube: KubeWriter | None, found: Mapping[ObjectRef, tuple[str, ...]]) -> None:
        """HostRule fields with no object to go to (a plain host, an SNI child) or that do not fit (a
        static VIP outside the VIP network), each with why: a warning Event (once per set), never silence."""
        new = [(ref, fields) for ref, fields in sorted(found.items(), key=lambda i: str(i[0]))
               if self._warned.get(ref) != fields]
        self._warned.update(new)
        for ref, fields in new:
            message = "not applied: " + "; ".join(fields)
            log.warning("%s: %s", ref, message)
            if kube is not None:
                await kube.post_event(obj=ref, reason="FieldNotApplied", message=message)

    def keys_for_secrets(self, idents: Iterable[tuple[str, str]]) -> set[str]:
        """The keys serving a host whose accepted HostRule takes its certificate from one of these Secrets."""
        wanted = set(idents)
        return self._keys_matching([e for e in self.accepted().effects()
                                    if (e.ref.namespace, e.secret_certificate) in wanted])

    def keys_for(self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> set[str]:
        """The keys serving a host that a HostRule's old or new spec matches."""
        return self._keys_matching([e for body in (old, new) if body for e in [parse_hostrule(body)[0]]
                                    if e is not None])

    def _keys_matching(self, effects: Sequence[HostRuleEffect]) -> set[str]:
        if not effects:
            return set()
        ingresses = self._ingresses()
        keys: set[str] = set()
        for ing in self._index.keys_of:
            for rule in (ingresses.get(ing) or {}).get("rules") or []:
                host = str(rule.get("host") or "")
                if host and any(e.matches(host) for e in effects):
                    keys.add(self._key_of(host))
        return keys & set(self._index.members)
