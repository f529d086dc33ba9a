"""The L7 family's side of HostRules: which shards a HostRule acts on, and the accepted ones, parsed.

The HostRule family decides and records the effects (`akod.sync.crs.CrState`); the L7 translation
applies them (`akod.model.hostrule_apply`). In between, this helper answers the two questions the
L7 family gets: which of its keys serve a host that a HostRule's old or new spec matches (so that
an edit re-syncs exactly those shards), and the accepted HostRules as the translation reads them
(parsed again only when one changed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from akod.model.hostrule import HostRules, parse_hostrule
from akod.model.hostrule import KIND as HOSTRULE
from akod.sync.crs import CrState
from akod.sync.families.l7index import L7Index


class L7HostRules:
    def __init__(self, *, crs: CrState, index: L7Index, ingresses: Callable[[], Mapping[tuple[str, str], Any]],
                 key_of: Callable[[str], str]) -> None:
        self._crs = crs
        self._index = index
        self._ingresses = ingresses
        self._key_of = key_of  # host -> its L7 key (shard or dedicated VS)
        self._parsed: tuple[int, HostRules] = (-1, HostRules())
        crs.affects(HOSTRULE, self.keys_for)

    def accepted(self) -> HostRules:
        version = self._crs.version(HOSTRULE)
        if self._parsed[0] != version:
            effects = [parse_hostrule(e.body)[0] for e in self._crs.effects(HOSTRULE).values()]
            self._parsed = (version, HostRules(e for e in effects if e is not None))
        return self._parsed[1]

    def keys_for(self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> set[str]:
        """The keys serving a host that a HostRule's old or new spec matches."""
        effects = [e for body in (old, new) if body for e in [parse_hostrule(body)[0]] if e is not None]
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
