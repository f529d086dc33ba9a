"""Writing a VIP back to a Service or an Ingress: status, the FQDN map annotation and an Event.

L4 and L7 write the same three things, and both skip what Kubernetes already shows, so that a
restart with nothing changed makes no Kubernetes call either. An object deleted meanwhile (404)
needs no status. An empty `ingress` and map clear what akod wrote. When a Service's status and
map both change, they go in one patch of its status subresource (one apiserver write and one
watch event fewer; see `KubeWriter.patch_status_and_fqdn_map`). Families name the object by kind
only: the `KubeWriter` patches it through the API version its kind was read from (API discovery
chose it), so a v1beta1 Ingress gets its status on a 1.18 server.

Kubernetes may refuse a write for the object's own sake: a 422 because the FQDN map would take
the object's annotations past 256 KiB, a 403 for a missing permission, any 4xx but 404 (gone),
408 and 429 (try again later). Such a refusal is not the daemon's failure and retrying at once
cannot help, so it is returned as a `Problem` on the field that was refused (the family shows it
in `/status`, the state database and as an Event), and the rest is still written: a Service whose
combined patch is refused gets its status alone, and only the annotation is reported. Other
errors (5xx, 408, 429, no answer) are raised: the engine retries the key with backoff.

`StatusWriter` remembers what was refused, so that the same write is not sent again while nothing
changed: it is tried again when the object changes (`forget`, called on its watch events), when
what akod would write changes, or `REFUSED_RETRY_S` later (a permission fixed by an admin changes
nothing on the object).

`write_each` writes the statuses of a key's objects (a shard's Ingresses) a few at a time: one
after the other, the 1,125 Ingresses of a shard at 9,000 took longer than the shard's last writes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from akod.kube.status import FQDN_MAP_ANNOTATION, KubeWriter
from akod.model.checksums import checksum
from akod.model.problems import ObjectRef, Problem, quoted

# Kinds whose status and map go in one write (Services only so far; an Ingress gets two).
COMBINED = frozenset({"Service"})
STATUS_FIELD = "status.loadBalancer.ingress"
MAP_FIELD = f"metadata.annotations[{FQDN_MAP_ANNOTATION}]"
REASON = "WriteBackRefused"
# 404: the object is gone (nothing to write); 408, 409, 429: the apiserver asks to try again.
NOT_REFUSALS = frozenset({404, 408, 409, 429})
WRITES_IN_FLIGHT = 8  # status writes of one key at once (each is a PATCH, and an Event when it changed)
REFUSED_RETRY_S = 600.0


def refused(exc: ApiException) -> bool:
    """Whether Kubernetes refused the write for the object's sake (retrying the same cannot help)."""
    status = int(exc.status or 0)
    return 400 <= status < 500 and status not in NOT_REFUSALS


def _kube_message(exc: ApiException) -> str:
    body = exc.body
    try:
        text = json.loads(body).get("message") if body else None
    except (ValueError, AttributeError, TypeError):
        text = None
    return str(text or exc.reason or "")


def _problem(obj: ObjectRef, where: str, exc: ApiException) -> Problem:
    what = "status" if where == STATUS_FIELD else f"annotation {FQDN_MAP_ANNOTATION}"
    served = ("the virtual service is served, but kubectl does not show its address" if where == STATUS_FIELD
              else "the address is served and shown in status, but tools reading the map (AMKO) do not see it")
    return Problem(obj=obj, field=where, reason=REASON, message=(
        f"Kubernetes refused akod's {what} ({exc.status}: {quoted(_kube_message(exc), limit=300)}); {served}; "
        f"akod writes it again when the {obj.kind} changes"))


async def write_back(*, kube: KubeWriter, obj: ObjectRef, body: Mapping[str, Any],
                     ingress: Sequence[Mapping[str, str]], fqdn_map: Mapping[str, str],
                     event: str = "") -> list[Problem]:
    """Make `obj` (whose trimmed `body` has `lb_ingress`, `fqdn_map`, `uid`) show `ingress` and `fqdn_map`.

    `event` is the message of the `Synced` Event posted when the status changes to a non-empty one.
    Returns what Kubernetes refused, as problems (empty: written, or nothing to write).
    """
    current = _current_map(body)
    map_differs = current != dict(fqdn_map)
    problems: list[Problem] = []
    try:
        if list(body.get("lb_ingress") or []) != list(ingress):
            status_written = False
            if map_differs and obj.kind in COMBINED:
                try:
                    await kube.patch_status_and_fqdn_map(obj=obj, ingress=ingress, fqdn_map=dict(fqdn_map) or None)
                    status_written, map_differs = True, False
                except ApiException as exc:
                    if not refused(exc):
                        raise
                    # One of the two is refused: the status alone tells which (and is written if it can be).
            if not status_written:
                try:
                    await kube.patch_status(obj=obj, ingress=ingress)
                    status_written = True
                except ApiException as exc:
                    if not refused(exc):
                        raise
                    problems.append(_problem(obj, STATUS_FIELD, exc))
            if status_written and ingress and event:
                await kube.post_event(obj=obj, uid=str(body.get("uid", "")), reason="Synced", warning=False,
                                      message=event)
        if map_differs:
            try:
                await kube.patch_fqdn_map(obj=obj, fqdn_map=dict(fqdn_map) or None)
            except ApiException as exc:
                if not refused(exc):
                    raise
                problems.append(_problem(obj, MAP_FIELD, exc))
    except ApiException as exc:
        if exc.status != 404:
            raise
        return []
    return problems


def _current_map(body: Mapping[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(body["fqdn_map"]) if body.get("fqdn_map") else {}
    except ValueError:
        return {"": "not JSON"}  # written by someone else: akod's map replaces it
    return value if isinstance(value, dict) else {"": "not a map"}


@dataclass(frozen=True, slots=True)
class _Refusal:
    attempt: str  # checksum of what was to be written
    at: float
    problems: tuple[Problem, ...]


class StatusWriter:
    """`write_back` that does not send again what Kubernetes refused while nothing changed."""

    def __init__(self, *, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._refused: dict[ObjectRef, _Refusal] = {}

    def problems_of(self, obj: ObjectRef) -> tuple[Problem, ...]:
        """The refusals standing for `obj` (shown with its other problems)."""
        held = self._refused.get(obj)
        return held.problems if held is not None else ()

    def holds(self, obj: ObjectRef) -> bool:
        return obj in self._refused

    def forget(self, obj: ObjectRef) -> bool:
        """`obj` changed (or is gone): its next write is sent again. True if a refusal was held."""
        return self._refused.pop(obj, None) is not None

    async def write(self, *, kube: KubeWriter, obj: ObjectRef, body: Mapping[str, Any],
                    ingress: Sequence[Mapping[str, str]], fqdn_map: Mapping[str, str],
                    event: str = "") -> tuple[Problem, ...]:
        def attempt() -> str:  # only when a refusal is involved: most writes (and no-ops) never need it
            return checksum({"ingress": [dict(i) for i in ingress], "fqdn_map": dict(fqdn_map)})

        held = self._refused.get(obj)
        if held is not None and held.attempt == attempt() and self._clock() - held.at < REFUSED_RETRY_S:
            return held.problems
        problems = tuple(await write_back(kube=kube, obj=obj, body=body, ingress=ingress, fqdn_map=fqdn_map,
                                          event=event))
        if problems:
            self._refused[obj] = _Refusal(attempt=attempt(), at=self._clock(), problems=problems)
        else:
            self._refused.pop(obj, None)
        return problems


async def write_each(items: Iterable[Any], write: Callable[[Any], Awaitable[None]], *,
                     in_flight: int = WRITES_IN_FLIGHT) -> None:
    """`write(item)` for every item, at most `in_flight` at once; the first error raised once all ended."""
    gate = asyncio.Semaphore(in_flight)

    async def one(item: Any) -> None:
        async with gate:
            await write(item)

    results = await asyncio.gather(*(one(item) for item in items), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
