"""List, then watch from the list's resourceVersion; resume from the stored cursor after a restart.

The loop is the informer of client-go reduced to what akod needs, with its state in SQLite:

- no cursor stored: LIST, store every object and the list's resourceVersion in one transaction;
- a cursor: WATCH from it (a restart costs no relist); every burst of events is stored as one
  transaction together with the newest resourceVersion;
- `410 Gone` (the cursor is older than etcd's history): LIST again; objects absent from the new
  list were deleted while nobody watched, and are reported as deleted;
- a dropped connection or a server error: reconnect with capped, jittered backoff.

The watch request is made through kubernetes-asyncio's API call (auth, TLS, serialisation), but
its lines are read here rather than through `kubernetes_asyncio.watch.Watch`: the daemon needs to
know when a watch is established (readiness after a restart with nothing changed, when no event
ever arrives) and wants raw dicts, not deserialised models.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from akod.model.observed import Observed

log = logging.getLogger("akod.kube")
RELIST_MIN_INTERVAL_S = 10.0  # at most one LIST of a resource per this many seconds (410 storms)

ListFn = Callable[..., Awaitable[Any]]
Trim = Callable[[dict[str, Any]], Observed]
OnChange = Callable[[Sequence[Observed], Sequence[Observed]], Awaitable[None]]


class CursorStore(Protocol):
    """Where watched objects and cursors are kept (`akod.store.Store` is one)."""

    async def cursor(self, *, resource: str) -> Any: ...

    async def apply_watch_batch(
        self, *, resource: str, kind: str, upserts: Sequence[Observed], deletes: Sequence[tuple[str, str]],
        resource_version: str, relist: bool = False,
    ) -> list[Observed]: ...


@dataclass(frozen=True, slots=True)
class WatchSpec:
    resource: str  # cursor name, e.g. "nodes"
    kind: str  # stored kind, e.g. "Node"
    list_fn: ListFn  # e.g. CoreV1Api.list_node (or list_service_for_all_namespaces)
    trim: Trim
    list_kwargs: dict[str, Any] = field(default_factory=dict)
    # False: list again at every start instead of resuming from the stored cursor. For Secrets,
    # whose material is kept only in memory: the store holds their digests, not what to serve.
    resume: bool = True


@dataclass
class WatchState:
    """What the status endpoint shows per resource."""

    synced: bool = False
    connected: bool = False
    resource_version: str = ""
    restarts: int = 0
    relists: int = 0
    last_error: str = ""


class _Gone(Exception):
    pass


LIST_PAGE = 500  # objects per page of a relist (what client-go's reflector asks for)


async def _raw(resp: Any) -> dict[str, Any]:
    data = await resp.read()
    resp.release()
    body: dict[str, Any] = json.loads(data)
    return body


async def list_all(spec: WatchSpec) -> tuple[list[Observed], str]:
    """One LIST of `spec`'s resource: every object, trimmed, and the list's resourceVersion.

    Read in pages of `LIST_PAGE` (`limit` and `continue`: one consistent snapshot, whose
    resourceVersion every page carries), each trimmed before the next is read: at 10,000
    Services a single answer is ~20 MB of JSON and ~80 MB of decoded objects at once, most of it
    dropped by the trimming. An expired `continue` answers 410, which relists again like any 410."""
    objects: list[Observed] = []
    rv, token = "", ""
    while True:
        page = {**spec.list_kwargs, "limit": LIST_PAGE, **({"_continue": token} if token else {})}
        body = await _raw(await spec.list_fn(_preload_content=False, **page))
        objects.extend(spec.trim(item) for item in body.get("items") or [])
        meta = body.get("metadata") or {}
        rv = rv or str(meta.get("resourceVersion", ""))
        token = str(meta.get("continue") or "")
        if not token:
            return objects, rv


async def relist(*, spec: WatchSpec, store: CursorStore, state: WatchState, on_change: OnChange) -> str:
    objects, rv = await list_all(spec)
    vanished = await store.apply_watch_batch(
        resource=spec.resource, kind=spec.kind, upserts=objects, deletes=[], resource_version=rv, relist=True
    )
    state.relists += 1
    state.resource_version = rv
    log.info("listed %d %s at resourceVersion %s", len(objects), spec.resource, rv)
    await on_change(objects, vanished)
    return rv


async def _watch_once(
    *, spec: WatchSpec, store: CursorStore, state: WatchState, on_change: OnChange, rv: str, timeout_s: int
) -> str:
    """One watch request from `rv` until the server ends it; returns the newest resourceVersion."""
    try:
        resp = await spec.list_fn(
            watch=True,
            resource_version=rv,
            timeout_seconds=timeout_s,
            allow_watch_bookmarks=True,
            _preload_content=False,
            _request_timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_s + 30),
            **spec.list_kwargs,
        )
    except ApiException as exc:
        if exc.status == 410:
            raise _Gone() from exc
        raise
    state.connected = True
    state.synced = True
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def reader() -> None:
        try:
            async for line in resp.content:
                if line.strip():
                    queue.put_nowait(json.loads(line))
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(reader())
    try:
        while True:
            first = await queue.get()
            if first is None:
                break
            batch = [first]
            while not queue.empty() and len(batch) < 500:
                nxt = queue.get_nowait()
                if nxt is None:
                    queue.put_nowait(None)
                    break
                batch.append(nxt)
            rv = await _store_events(spec=spec, store=store, on_change=on_change, events=batch, rv=rv)
            state.resource_version = rv
        await task  # re-raise a reader error (dropped connection)
    finally:
        task.cancel()
        resp.release()
    return rv


async def _store_events(
    *, spec: WatchSpec, store: CursorStore, on_change: OnChange, events: list[dict[str, Any]], rv: str
) -> str:
    upserts: dict[tuple[str, str], Observed] = {}
    deleted: dict[tuple[str, str], Observed] = {}
    for event in events:
        kind = event.get("type")
        raw = event.get("object") or {}
        if kind == "ERROR":
            if raw.get("code") == 410:
                raise _Gone()
            raise ApiException(status=raw.get("code", 500), reason=str(raw.get("message", "watch error")))
        new_rv = str((raw.get("metadata") or {}).get("resourceVersion", "")) or rv
        rv = new_rv
        if kind == "BOOKMARK":
            continue
        obj = spec.trim(raw)
        ident = (obj.namespace, obj.name)
        if kind == "DELETED":
            upserts.pop(ident, None)
            deleted[ident] = obj
        else:
            deleted.pop(ident, None)
            upserts[ident] = obj
    await store.apply_watch_batch(
        resource=spec.resource, kind=spec.kind, upserts=list(upserts.values()), deletes=list(deleted), resource_version=rv
    )
    await on_change(list(upserts.values()), list(deleted.values()))
    return rv


async def run_watch(
    *,
    spec: WatchSpec,
    store: CursorStore,
    state: WatchState,
    on_change: OnChange,
    timeout_s: int = 290,
    backoff_cap_s: float = 30.0,
    relist_interval_s: float = RELIST_MIN_INTERVAL_S,
) -> None:
    """Keep `spec`'s objects in the store current, forever (cancel to stop).

    `relist_interval_s`: at most one successful LIST per this many seconds, and at least this long
    before asking again for a resource the server answered 404 for.
    """
    cursor = await store.cursor(resource=spec.resource) if spec.resume else None
    rv = cursor.resource_version if cursor is not None else ""
    if rv:
        state.resource_version = rv
        log.info("resuming the %s watch from the stored resourceVersion %s", spec.resource, rv)
    failures = 0
    last_relist = -relist_interval_s
    while True:
        try:
            if not rv:
                # A server that answers every watch with 410 must not make akod list in a loop.
                wait = last_relist + relist_interval_s - time.monotonic()
                if wait > 0:
                    log.info("the %s were listed %.1fs ago; listing again in %.1fs", spec.resource,
                             relist_interval_s - wait, wait)
                    await asyncio.sleep(wait)
                rv = await relist(spec=spec, store=store, state=state, on_change=on_change)
                last_relist = time.monotonic()
                state.synced = True
            rv = await _watch_once(spec=spec, store=store, state=state, on_change=on_change, rv=rv, timeout_s=timeout_s)
            failures = 0
        except _Gone:
            log.info("the %s watch cursor %s is too old (410 Gone): listing again", spec.resource, rv)
            state.synced = False  # until the relist below has brought the store up to date
            rv = ""
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the edge must be retried, not fatal
            failures += 1
            state.connected = False
            state.restarts += 1
            state.last_error = f"{type(exc).__name__}: {exc}"[:500]
            if rv:  # resume after what was stored, not from where the failed watch began
                rv = state.resource_version or rv
            delay = random.uniform(0, min(backoff_cap_s, 0.5 * 2 ** min(failures, 8)))
            if isinstance(exc, ApiException) and exc.status == 404:
                delay = max(delay, relist_interval_s)  # not served (a CRD removed?): not fixed in a second
            log.warning("the %s watch failed (%s); retrying in %.1fs", spec.resource, state.last_error, delay)
            await asyncio.sleep(delay)
