"""The machinery every AKO custom resource family shares: accepted effects, Avi ref checks, status.

A CR family (`families/hostrule.py`, and HTTPRule, L4Rule, AviInfraSetting after it) does not
make controller objects of its own: it decides whether a CR is accepted and records the CR's
*effect*, which the families that do make objects (L7, L4) apply in their translations. The steps
of a CR family's sync are written once, in `akod.sync.crlifecycle.CrFamily`; this module holds the
state and the checks they use. So:

- `CrState` holds the accepted effect of every CR (kind -> (namespace, name) -> `CrEffect`), the
  same object in the daemon and in `akod plan` (`Inputs.crs`). The CR families write it, the L7/L4
  families read it. A family that applies a kind of CR registers, with `affects`, how an effect
  change maps to its own keys; the CR family's sync calls `keys_for` and marks exactly those keys
  (through `SyncIO.mark`), so editing a HostRule re-syncs only the shards of the hosts it matches.
- The effects are kept in the state database (`cr_effects`, `Store.save_cr_effect`) and loaded
  back before anything is translated (`CrState.restore`, from `Registry.restore`): a CR that
  became invalid while akod was down keeps its last good effect after the restart too.
- `RefChecker` asks the controller whether the Avi objects a CR names exist (one paced GET by
  name each, through `Inputs.avi_exists`). A positive answer is cached for `POSITIVE_TTL_S`; a
  CR whose spec changed is checked afresh; a missing object is never cached, and the CR family
  checks a CR rejected for one again every `[sync] drift_check_s`, so that the CR is accepted
  once the object appears.
- `avi_read` reads some fields of a named object (an L4Rule's profiles: their type decides, as in
  AKO), through the same paced client (`Inputs.avi_read`).
- `status_differs` + `KubeWriter.patch_cr_status` write `status.status`/`status.error` only when
  Kubernetes does not already show them (a restart writes nothing), and only as the leader (the
  Kubernetes writer is gated).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from akod.avi import AviClient
from akod.avi.errors import AviAmbiguousName, AviNotFound
from akod.model.checksums import checksum
from akod.model.crs import AviRef
from akod.store import CrEffect, Store

log = logging.getLogger("akod.sync")

Ident = tuple[str, str]
AviExists = Callable[[str, str], Awaitable[bool]]  # (obj_type, name) -> does it exist on the controller
# (kind, old effect body or None, new effect body or None) -> the keys whose objects may change.
Affects = Callable[[Mapping[str, Any] | None, Mapping[str, Any] | None], set[str]]
# (obj_type, name, fields) -> those fields of the object on the controller, or None (L4Rule: a profile's type)
AviRead = Callable[[str, str, str], Awaitable[Mapping[str, Any] | None]]
POSITIVE_TTL_S = 300.0


def effect_checksum(body: Mapping[str, Any]) -> str:
    """What of a CR body its effect depends on: the spec (not the status akod writes, not the version)."""
    return checksum({"spec": body.get("spec") or {}, "created": body.get("created", "")})


@dataclass
class CrState:
    """The accepted effect of every CR, and who applies each kind (see the module docstring)."""

    _effects: dict[str, dict[Ident, CrEffect]] = field(default_factory=dict)
    _versions: dict[str, int] = field(default_factory=dict)
    _affects: dict[str, list[Affects]] = field(default_factory=dict)
    restored: bool = False

    def effects(self, kind: str) -> Mapping[Ident, CrEffect]:
        return self._effects.get(kind, {})

    def effect(self, kind: str, ident: Ident) -> CrEffect | None:
        return self._effects.get(kind, {}).get(ident)

    def version(self, kind: str) -> int:
        """Grows with every change of `kind`'s effects: a reader's memo key."""
        return self._versions.get(kind, 0)

    def put(self, effect: CrEffect) -> None:
        self._effects.setdefault(effect.kind, {})[(effect.namespace, effect.name)] = effect
        self._versions[effect.kind] = self.version(effect.kind) + 1

    def drop(self, kind: str, ident: Ident) -> CrEffect | None:
        gone = self._effects.get(kind, {}).pop(ident, None)
        if gone is not None:
            self._versions[kind] = self.version(kind) + 1
        return gone

    def affects(self, kind: str, fn: Affects) -> None:
        """`fn` tells which keys of a family an effect change of `kind` touches."""
        self._affects.setdefault(kind, []).append(fn)

    def keys_for(self, kind: str, *, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> set[str]:
        return {key for fn in self._affects.get(kind, ()) for key in fn(old, new)}

    async def restore(self, store: Store) -> None:
        """The effects kept in the state database, once, before the first translation."""
        if self.restored:
            return
        for effect in await store.cr_effects():
            self.put(effect)
        self.restored = True


@dataclass
class RefChecker:
    """Which of the Avi objects a CR names are missing on the controller (see the module docstring)."""

    exists: AviExists | None
    ttl_s: float = POSITIVE_TTL_S
    clock: Callable[[], float] = time.monotonic
    _seen: dict[tuple[str, str], float] = field(default_factory=dict)

    async def missing(self, refs: Sequence[AviRef], *, fresh: bool = False) -> list[AviRef]:
        """The refs whose object does not exist; `fresh` ignores the cache (the CR just changed)."""
        if self.exists is None:
            return []
        found: list[AviRef] = []
        answers: dict[tuple[str, str], bool] = {}
        now = self.clock()
        for ref in refs:
            ident = (ref.obj_type, ref.name)
            if ident not in answers:
                seen = self._seen.get(ident)
                if not fresh and seen is not None and now - seen < self.ttl_s:
                    answers[ident] = True
                else:
                    answers[ident] = await self.exists(*ident)
                    if answers[ident]:
                        self._seen[ident] = now
                    else:
                        self._seen.pop(ident, None)
            if not answers[ident]:
                found.append(ref)
        return found


def avi_exists(client: AviClient) -> AviExists:
    """Existence by name through the paced client (in the configured tenant, shared `admin` objects too)."""

    async def exists(obj_type: str, name: str) -> bool:
        try:
            return await client.get_by_name(obj_type, name, params={"fields": "name"}) is not None
        except AviAmbiguousName:
            return True
        except AviNotFound:  # the controller does not know the type at all
            return False

    return exists


def avi_read(client: AviClient) -> AviRead:
    """Some fields of one object by name through the paced client (None: no such object, or several)."""

    async def read(obj_type: str, name: str, fields: str) -> Mapping[str, Any] | None:
        try:
            return await client.get_by_name(obj_type, name, params={"fields": fields})
        except (AviAmbiguousName, AviNotFound):
            return None

    return read


def status_differs(body: Mapping[str, Any], status: Mapping[str, str]) -> bool:
    shown = body.get("status") or {}
    return (str(shown.get("status") or ""), str(shown.get("error") or "")) != (status["status"], status["error"])


def idents_of(bodies: Iterable[Mapping[str, Any]]) -> set[Ident]:
    return {(str(b.get("namespace", "")), str(b.get("name", ""))) for b in bodies}
