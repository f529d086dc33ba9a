"""A small controller over real HTTP, for the client tests until and beside the emulator.

It does what reference/avi-api.md section 1 and 2 say a controller does, only as far as the
client tests need: JSON login with Secure session and CSRF cookies, 401 without a session or
with a wrong CSRF token, a required `X-Avi-Version`, CRUD with 201/204/409/412, collection
paging whose `next` names another host. On top, a queue of scripted faults per (method, path):
a status (with headers and body), `RESET` (the connection is dropped before a reply) or `HANG`
(no reply until the test ends). Every request is recorded, and concurrent requests are counted.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

RESET = "reset"
HANG = "hang"


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None  # JSON-serialisable; a str is sent as text
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    cookies: dict[str, str]
    body: Any


Fault = int | Reply | str


class FakeController:
    def __init__(
        self,
        *,
        username: str = "admin",
        password: str = "s3cret-pass",
        version: str = "22.1.3",
        handler_delay_s: float = 0.0,
        ssl_context: Any = None,
    ) -> None:
        self.username = username
        self.password = password
        self.version = version
        self.handler_delay_s = handler_delay_s
        self.ssl_context = ssl_context
        self.objects: dict[str, dict[str, dict[str, Any]]] = collections.defaultdict(dict)
        self.requests: list[Recorded] = []
        self.sessions: dict[str, str] = {}  # session id -> csrf token
        self.logins = 0
        self.logouts = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.next_host = "https://controller.elsewhere.example:9443"
        self._faults: dict[tuple[str, str], collections.deque[Fault]] = collections.defaultdict(
            collections.deque
        )
        self._ids = itertools.count(1)
        self._stop = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # Test controls.

    def fail(self, method: str, path: str, *faults: Fault) -> None:
        """The next requests to (method, path) get these faults, in order, then behave."""
        self._faults[(method, path)].extend(faults)

    def expire_sessions(self) -> None:
        self.sessions.clear()

    def seen(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def add(self, obj_type: str, body: dict[str, Any], *, tenant: str = "admin") -> dict[str, Any]:
        uuid = f"{obj_type}-{next(self._ids)}"
        obj = {**body, "uuid": uuid, "tenant": tenant, "_last_modified": str(next(self._ids))}
        self.objects[obj_type][uuid] = obj
        return obj

    # Lifecycle.

    async def __aenter__(self) -> FakeController:
        app = web.Application(middlewares=[self._record, self._inject, self._authenticate])
        app.router.add_post("/login", self._login)
        app.router.add_post("/logout", self._logout)
        app.router.add_get("/api/{type}", self._list)
        app.router.add_post("/api/{type}", self._create)
        app.router.add_get("/api/{type}/{uuid}", self._read)
        app.router.add_put("/api/{type}/{uuid}", self._replace)
        app.router.add_patch("/api/{type}/{uuid}", self._patch)
        app.router.add_delete("/api/{type}/{uuid}", self._delete)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        host, port = site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
        scheme = "https" if self.ssl_context else "http"
        self.url = f"{scheme}://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._runner is not None
        await self._runner.cleanup()

    # Middlewares: record, scripted faults, session + CSRF + version.

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode()
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                cookies=dict(request.cookies),
                body=body,
            )
        )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.handler_delay_s:
                await asyncio.sleep(self.handler_delay_s)  # the controller's work, not a test wait
            return await handler(request)
        finally:
            self.in_flight -= 1

    @web.middleware
    async def _inject(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        queue = self._faults.get((request.method, request.path))
        if not queue:
            return await handler(request)
        fault = queue.popleft()
        if fault == RESET:
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError  # nothing more to send on a dropped connection
        if fault == HANG:
            await self._stop.wait()
            raise asyncio.CancelledError
        reply = Reply(fault, {"error": f"injected {fault}"}) if isinstance(fault, int) else fault
        assert isinstance(reply, Reply)
        return _respond(reply)

    @web.middleware
    async def _authenticate(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path == "/login":
            return await handler(request)
        sid = request.cookies.get("avi-sessionid")
        if sid not in self.sessions:
            return web.json_response(
                {"detail": "Authentication credentials were not provided."}, status=401
            )
        if request.method != "GET":
            token = request.headers.get("X-CSRFToken")
            if token != self.sessions[sid] or token != request.cookies.get("csrftoken"):
                # Plain text with a JSON content type, as the real controller does.
                return web.Response(
                    status=401,
                    text="CSRF token missing or incorrect.",
                    content_type="application/json",
                )
            if request.headers.get("Referer") is None:
                return web.json_response({"error": "Referer missing"}, status=403)
        if request.path.startswith("/api/") and not request.headers.get("X-Avi-Version"):
            return web.json_response({"error": "X-Avi-Version missing"}, status=400)
        return await handler(request)

    # Session endpoints.

    async def _login(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if body.get("username") != self.username or body.get("password") != self.password:
            return web.json_response({"error": "Invalid credentials"}, status=401)
        self.logins += 1
        sid, csrf = secrets.token_hex(16), secrets.token_hex(16)
        self.sessions[sid] = csrf
        response = web.json_response(
            {
                "user_initialized": True,
                "version": {"Version": self.version, "build": 9046, "Product": "controller"},
                "user": {"username": self.username, "name": self.username},
                "tenants": [{"uuid": "admin", "name": "admin"}],
                "controller": {"api_idle_timeout": 15},
                "session_cookie_name": "avi-sessionid",
            }
        )
        response.set_cookie("csrftoken", csrf, max_age=31449600, path="/", secure=True)
        for name in ("avi-sessionid", "sessionid"):
            response.set_cookie(name, sid, max_age=86400, path="/", secure=True, httponly=True)
        return response

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        self.sessions.pop(request.cookies.get("avi-sessionid", ""), None)
        self.logouts += 1
        return web.json_response({})

    # CRUD.

    async def _list(self, request: web.Request) -> web.StreamResponse:
        obj_type = request.match_info["type"]
        tenant = request.headers.get("X-Avi-Tenant", "admin")
        found = [
            o
            for o in self.objects[obj_type].values()
            if (tenant == "*" or o["tenant"] == tenant)
            and ("name" not in request.query or o.get("name") == request.query["name"])
        ]
        size = int(request.query.get("page_size", "25"))
        page = int(request.query.get("page", "1"))
        body: dict[str, Any] = {
            "count": len(found),
            "results": found[(page - 1) * size : page * size],
        }
        if page * size < len(found):
            query = {k: v for k, v in request.query.items() if k != "page"}
            query["page"] = str(page + 1)
            tail = "&".join(f"{k}={v}" for k, v in query.items())
            body["next"] = f"{self.next_host}/api/{obj_type}?{tail}"
        return web.json_response(body)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        obj_type = request.match_info["type"]
        tenant = request.headers.get("X-Avi-Tenant", "admin")
        body = await request.json()
        if any(
            o.get("name") == body.get("name") and o["tenant"] == tenant
            for o in self.objects[obj_type].values()
        ):
            return web.json_response(
                {"error": f"{obj_type} object with this name already exists"}, status=409
            )
        return web.json_response(self.add(obj_type, body, tenant=tenant), status=201)

    def _find(self, request: web.Request) -> dict[str, Any] | None:
        return self.objects[request.match_info["type"]].get(request.match_info["uuid"])

    async def _read(self, request: web.Request) -> web.StreamResponse:
        obj = self._find(request)
        if obj is None:
            return web.json_response({"error": "object not found!"}, status=404)
        return web.json_response(obj)

    async def _replace(self, request: web.Request) -> web.StreamResponse:
        obj = self._find(request)
        if obj is None:
            return web.json_response({"error": "object not found!"}, status=404)
        body = await request.json()
        if "_last_modified" in body and body["_last_modified"] != obj["_last_modified"]:
            return web.json_response({"error": "Concurrent update, reload object"}, status=412)
        keep = {"uuid": obj["uuid"], "tenant": obj["tenant"]}
        obj.clear()
        obj.update(body, **keep)
        obj["_last_modified"] = str(next(self._ids))
        return web.json_response(obj)

    async def _patch(self, request: web.Request) -> web.StreamResponse:
        obj = self._find(request)
        if obj is None:
            return web.json_response({"error": "object not found!"}, status=404)
        body = await request.json()
        for key, value in body.get("replace", {}).items():
            obj[key] = value
        for key, value in body.get("add", {}).items():
            obj[key] = obj.get(key, []) + value if isinstance(value, list) else value
        for key, value in body.get("delete", {}).items():
            obj[key] = [v for v in obj.get(key, []) if v not in value]
        obj["_last_modified"] = str(next(self._ids))
        return web.json_response(obj)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        if self.objects[request.match_info["type"]].pop(request.match_info["uuid"], None) is None:
            return web.json_response({"error": "object not found!"}, status=404)
        return web.Response(status=204)


def _respond(reply: Reply) -> web.StreamResponse:
    if isinstance(reply.body, str):
        return web.Response(status=reply.status, text=reply.body, headers=reply.headers)
    return web.json_response(reply.body, status=reply.status, headers=reply.headers)
