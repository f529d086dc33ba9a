"""A Kubernetes API server for Nodes whose answers a test scripts, over real HTTP (aiohttp.web).

`GET /api/v1/nodes` is a LIST; with `?watch=true` it is a WATCH, answered as the real server does:
newline-delimited JSON events on a chunked stream. Each request takes the next scripted answer
of its kind; a watch with no answer left stays open, sending nothing, until the test stops the
loop (a LIST with none left is a 500 the test would see). Every request's query is kept, so a test
can say whether the loop listed and from which resourceVersion it watched.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from kubernetes_asyncio.client import ApiClient, Configuration

Script = Callable[[web.Request, "Apiserver"], Awaitable[web.StreamResponse]]


def node(name: str, rv: str, *, ip: str = "10.10.30.11", pod_cidr: str = "10.244.1.0/24") -> dict[str, Any]:
    return {"kind": "Node", "apiVersion": "v1",
            "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": rv,
                         "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{"manager": "kubelet"}]},
            "spec": {"podCIDR": pod_cidr},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": obj}


def bookmark(rv: str) -> dict[str, Any]:
    return event("BOOKMARK", {"kind": "Node", "apiVersion": "v1", "metadata": {"resourceVersion": rv}})


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


GONE = status_body(410, "Expired", "too old resource version: 100 (150)")
NOT_FOUND = status_body(404, "NotFound", "the server could not find the requested resource")


def listing(rv: str, *items: dict[str, Any]) -> Script:
    async def answer(request: web.Request, server: Apiserver) -> web.StreamResponse:
        return web.json_response({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": rv},
                                  "items": list(items)})
    return answer


def error(status: int, body: dict[str, Any]) -> Script:
    async def answer(request: web.Request, server: Apiserver) -> web.StreamResponse:
        return web.json_response(body, status=status)
    return answer


def gated(gate: asyncio.Event, script: Script) -> Script:
    """`script`, answered only once the test opens `gate` (the request is seen at once)."""
    async def answer(request: web.Request, server: Apiserver) -> web.StreamResponse:
        await gate.wait()
        return await script(request, server)
    return answer


def stream(*events: dict[str, Any], then: str = "hang",
           before_end: Callable[[], Awaitable[None]] | None = None) -> Script:
    """A watch sending `events`, then: "hang" (stay open), "close" (end the stream as the server does at
    `timeoutSeconds`) or "drop" (the connection closes mid-stream, with no end of the chunked body).
    `before_end` is awaited before closing or dropping (e.g. until the client has stored the events)."""
    async def answer(request: web.Request, server: Apiserver) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for e in events:
            await response.write(json.dumps(e).encode() + b"\n")
        if then == "hang":
            await server.stopping.wait()
            return response
        if before_end is not None:
            await before_end()
        if then == "drop":
            assert request.transport is not None
            request.transport.close()  # flushes what was written, then FIN: the body never ends properly
            return response
        await response.write_eof()
        return response
    return answer


@dataclass
class Apiserver:
    url: str = ""
    lists: list[Script] = field(default_factory=list)
    watches: list[Script] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # loop time of each request, as `queries`
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def list_times(self) -> list[float]:
        return [t for t, q in zip(self.arrivals, self.queries, strict=True) if q.get("watch") != "true"]

    def watch_queries(self) -> list[dict[str, str]]:
        return [q for q in self.queries if q.get("watch") == "true"]

    def list_count(self) -> int:
        return sum(1 for q in self.queries if q.get("watch") != "true")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.queries.append(dict(request.query))
        self.arrivals.append(asyncio.get_running_loop().time())
        if request.query.get("watch") == "true":
            script = self.watches.pop(0) if self.watches else stream()
        elif self.lists:
            script = self.lists.pop(0)
        else:
            script = error(500, status_body(500, "InternalError", "no LIST answer scripted"))
        return await script(request, self)


@asynccontextmanager
async def serving(server: Apiserver) -> AsyncIterator[ApiClient]:
    """Run `server` on a loopback port; yield a kubernetes-asyncio ApiClient of it."""
    app = web.Application()
    app.router.add_get("/api/v1/nodes", server.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with ApiClient(Configuration(host=server.url)) as api:
            yield api
    finally:
        server.stopping.set()
        await runner.cleanup()
