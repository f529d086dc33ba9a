"""The L4 family's side of L4Rules: which L4 keys an L4Rule acts on, and the accepted ones, parsed.

The L4Rule family decides and records the effects (`akod.sync.crs.CrState`); the L4 translation
applies them (`akod.model.l4rule_apply`). In between, this helper answers the questions the L4
family gets: which of its keys hold a Service whose annotation `ako.vmware.com/l4rule` names an
L4Rule (so that an effect change, or an L4Rule appearing, being rejected or going, re-syncs
exactly those keys), and the L4Rules as the translation reads them (the accepted effects of those
that exist, and the status of the others, parsed again only when one changed); and it warns about
the fields of an L4Rule that found nothing to apply to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from akod.kube.status import KubeWriter
from akod.model.l4rule import KIND as L4RULE
from akod.model.l4rule import L4RuleEffect, named_rule, parse_l4rule
from akod.model.l4rule_apply import L4Rules
from akod.model.problems import ObjectRef
from akod.sync.cluster import Change
from akod.sync.crs import CrState

log = logging.getLogger("akod.sync")
Ident = tuple[str, str]


class L4RuleIndex:
    def __init__(self, *, crs: CrState, services: Callable[[], Mapping[Ident, Any]],
                 key_of: Mapping[Ident, str], present: Callable[[], Mapping[Ident, Any]]) -> None:
        self._crs = crs
        self._services = services  # the cluster's Services now
        self._key_of = key_of  # Service -> its L4 key (the L4 family's index, read live)
        self._present = present  # the L4Rules the cluster has now
        self._parsed: tuple[tuple[int, frozenset[tuple[Ident, str, str]]], L4Rules] = ((-1, frozenset()), L4Rules())
        self._warned: dict[ObjectRef, tuple[str, ...]] = {}
        crs.affects(L4RULE, self.keys_for)

    def accepted(self) -> L4Rules:
        """The accepted effects of the L4Rules that still exist, and the status of every one."""
        present = self._present()
        statuses = frozenset((ident, str((b.get("status") or {}).get("status") or ""),
                              str((b.get("status") or {}).get("error") or "")) for ident, b in present.items())
        memo = (self._crs.version(L4RULE), statuses)
        if self._parsed[0] != memo:
            effects: dict[Ident, L4RuleEffect] = {}
            for ident, kept in self._crs.effects(L4RULE).items():
                effect = parse_l4rule(kept.body)[0] if ident in present else None
                if effect is not None:
                    effects[ident] = effect
            self._parsed = (memo, L4Rules(effects=effects, present={i: (s, e) for i, s, e in statuses}))
        return self._parsed[1]

    def keys_naming(self, idents: Iterable[Ident]) -> set[str]:
        """The L4 keys of the Services whose annotation names one of `idents`."""
        wanted = set(idents)
        if not wanted:
            return set()
        return {key for svc, body in self._services().items()
                if named_rule(body) in wanted for key in [self._key_of.get(svc)] if key is not None}

    def keys_for(self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> set[str]:
        """`CrState.affects`: the keys an effect change of an L4Rule touches."""
        return self.keys_naming((str(b.get("namespace", "")), str(b.get("name", ""))) for b in (old, new) if b)

    def on_change(self, change: Change) -> set[str]:
        """An L4Rule appeared, went, or got a status: the Services naming it say so (or stop)."""
        if change.kind != L4RULE:
            return set()
        return self.keys_naming(change.idents())

    async def warn(self, *, kube: KubeWriter | None, found: Mapping[ObjectRef, tuple[str, ...]]) -> None:
        """Fields of an L4Rule with nothing to apply to: a warning Event (once per set of fields)."""
        new = [(ref, fields) for ref, fields in sorted(found.items(), key=lambda i: str(i[0]))
               if fields and self._warned.get(ref) != fields]
        self._warned.update(new)
        for ref, fields in new:
            message = f"{', '.join(fields)} not applied"
            log.warning("%s: %s", ref, message)
            if kube is not None:
                await kube.post_event(obj=ref, reason="FieldNotApplied", message=message)
