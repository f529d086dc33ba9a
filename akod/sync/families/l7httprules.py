"""The L7 family's side of HTTPRules: which keys an HTTPRule acts on, and the accepted ones, parsed.

The HTTPRule family decides and records the effects (`akod.sync.crs.CrState`); the L7 translation
applies them to the pools (`akod.model.httprule_apply`). In between, this helper answers the two
questions the L7 family gets, as `l7hostrules` does for HostRules: which of its keys serve the
host an HTTPRule's old or new spec names, for an Ingress of the HTTPRule's namespace (so that an
edit re-syncs exactly those keys), and the accepted HTTPRules as the translation reads them
(parsed again only when one changed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from akod.model.httprule import KIND as HTTPRULE
from akod.model.httprule import HTTPRules, parse_httprule
from akod.sync.crs import CrState
from akod.sync.families.l7index import L7Index


class L7HTTPRules:
    def __init__(self, *, crs: CrState, index: L7Index, ingresses: Callable[[], Mapping[tuple[str, str], Any]],
                 key_of: Callable[[str], str], present: Callable[[], Mapping[tuple[str, str], Any]]) -> None:
        self._crs = crs
        self._index = index
        self._ingresses = ingresses
        self._key_of = key_of  # host -> its L7 key (shard or dedicated VS)
        self._present = present  # the HTTPRules the cluster has now
        self._parsed: tuple[tuple[int, frozenset[tuple[str, str]]], HTTPRules] = ((-1, frozenset()), HTTPRules())
        crs.affects(HTTPRULE, self.keys_for)

    def accepted(self) -> HTTPRules:
        """The accepted effects of the HTTPRules that still exist (one deleted while akod was down
        is not applied at the restart, before its own key removes the effect)."""
        present = frozenset(self._present())
        memo = (self._crs.version(HTTPRULE), present)
        if self._parsed[0] != memo:
            effects = [parse_httprule(e.body)[0] for ident, e in self._crs.effects(HTTPRULE).items()
                       if ident in present]
            self._parsed = (memo, HTTPRules(e for e in effects if e is not None))
        return self._parsed[1]

    def keys_for(self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> set[str]:
        """The keys serving the host of an HTTPRule's old or new spec for an Ingress of its namespace."""
        wanted = {(e.namespace, e.fqdn) for body in (old, new) if body
                  for e in [parse_httprule(body)[0]] if e is not None}
        if not wanted:
            return set()
        ingresses = self._ingresses()
        keys: set[str] = set()
        for ing in self._index.keys_of:
            for rule in (ingresses.get(ing) or {}).get("rules") or []:
                host = str(rule.get("host") or "")
                if host and (ing[0], host.lower()) in wanted:
                    keys.add(self._key_of(host))
                    # An AviInfraSetting's class puts the host on a shard of its own: one of the Ingress's keys.
                    keys |= set(self._index.keys_of.get(ing, ()))
        return keys & set(self._index.members)
