"""The L7 and L4 families' side of AviInfraSettings: the accepted ones as the translations read them.

The AviInfraSetting family decides and records the effects (`akod.sync.crs.CrState`); the L7 and
L4 translations build their contexts from them (`akod.model.infrasetting_apply`). In between, this
helper answers what both need: the accepted effects of the AviInfraSettings that exist now, and
which exist at all (an object naming one that exists but is not accepted is held back), parsed
again only when an effect or a status changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from akod.model.infrasetting import KIND, parse_infrasetting
from akod.model.infrasetting_apply import InfraSettings
from akod.sync.crs import CrState

Present = Callable[[], Mapping[tuple[str, str], Mapping[str, Any]]]


def names_of(*bodies: Mapping[str, Any] | None) -> set[str]:
    return {str(b.get("name", "")) for b in bodies if b}


class AcceptedInfra:
    def __init__(self, *, crs: CrState, present: Present) -> None:
        self._crs = crs
        self._present = present
        self._memo: tuple[Any, InfraSettings] = (None, InfraSettings())

    def settings(self) -> InfraSettings:
        present = self._present()
        statuses = tuple(sorted((ident[1], str((b.get("status") or {}).get("status") or ""),
                                 str((b.get("status") or {}).get("error") or "")) for ident, b in present.items()))
        memo = (self._crs.version(KIND), statuses)
        if self._memo[0] != memo:
            effects = {}
            for ident, recorded in self._crs.effects(KIND).items():
                if ident in present:
                    effect = parse_infrasetting(recorded.body)[0]
                    if effect is not None:
                        effects[effect.name] = effect
            self._memo = (memo, InfraSettings(effects=effects, present={i[1]: b for i, b in present.items()}))
        return self._memo[1]
