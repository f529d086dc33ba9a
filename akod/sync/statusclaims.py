"""Which Services and Ingresses show a status this daemon wrote: the only ones it may clear.

A Service or Ingress that akod stops serving loses the VIP akod wrote into its status. But not
being served by *this* daemon does not mean akod wrote that status: two daemons (`akod@S1-AZ1`,
`akod@S1-AZ2`) may watch one Kubernetes cluster and split it by `[namespaces] selector`, and each
then sees the other's Services, with the other's VIPs in their status and the other's virtual
service in their `ako.vmware.com/host-fqdn-vs-uuid-map` annotation. Clearing those at start (or
on any change) would take them away from the daemon that owns them, which would not notice: it
ignores changes of what it wrote itself. So a status is ours to clear only when

- this daemon served the object earlier in this run and then stopped (`release`), or
- its FQDN map names a virtual service of this cluster: one found on the controller by the
  inventory at start (`learn`, which finds them by `created_by: ako-<cluster>`), or one whose
  uuid this daemon wrote (`wrote`).

uuids are only ever added: a virtual service deleted since is still proof that the status was
ours, and the controller never gives its uuid to another object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from akod.store import Applied

Ident = tuple[str, str]  # (namespace, name)


def fqdn_map_uuids(body: Mapping[str, Any]) -> set[str]:
    """The virtual service uuids in a trimmed object's `fqdn_map` (the annotation's JSON text)."""
    raw = body.get("fqdn_map")
    if not raw:
        return set()
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return set()
    if not isinstance(parsed, Mapping):
        return set()
    return {str(uuid) for uuid in parsed.values() if uuid}


class StatusClaims:
    """The evidence that a status on a Service or Ingress was written by this daemon."""

    def __init__(self) -> None:
        self._vs_uuids: set[str] = set()
        self._released: set[Ident] = set()

    def learn(self, applied: Iterable[Applied]) -> None:
        """The controller's objects of this cluster, as the inventory found them."""
        self._vs_uuids |= {a.uuid for a in applied if a.obj_type == "virtualservice" and a.uuid}

    def wrote(self, vs_uuids: Iterable[str]) -> None:
        """This daemon wrote a status naming these virtual services."""
        self._vs_uuids |= {u for u in vs_uuids if u}

    def release(self, ident: Ident) -> None:
        """This daemon served `ident` until now: whatever status it shows is ours."""
        self._released.add(ident)

    def ours(self, ident: Ident, body: Mapping[str, Any]) -> bool:
        """May this daemon clear the status of `ident`, whose trimmed body is `body`?"""
        return ident in self._released or not fqdn_map_uuids(body).isdisjoint(self._vs_uuids)

    def cleared(self, ident: Ident) -> None:
        self._released.discard(ident)
