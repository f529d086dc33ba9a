"""The local HTTP status endpoint: what the daemon is doing, for people, scripts and Prometheus.

Listens on loopback TCP or a Unix socket (`[status] listen`). It only reads the `Runtime`; no
handler writes anything or calls the controller. No secret (password, key, cookie, token) is in
any answer: the runtime holds none to show.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from akod.model.problems import ObjectRef
from akod.sync.runtime import Runtime

log = logging.getLogger("akod.statusd")
RUNTIME = web.AppKey("runtime", Runtime)
routes = web.RouteTableDef()


def _json(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, indent=2, sort_keys=True) + "\n", status=status,
                        content_type="application/json")


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    ready, reason = request.app[RUNTIME].readiness()
    return _json({"ready": ready, "reason": reason}, status=200 if ready else 503)


@routes.get("/status")
async def status(request: web.Request) -> web.Response:
    return _json(await request.app[RUNTIME].status())


@routes.get("/errors")
async def errors(request: web.Request) -> web.Response:
    """The problems `/status` lists only the first of: `?offset=&limit=` (at most 1000), `kind`, `namespace`, `name`."""
    query = request.query
    try:
        offset = int(query.get("offset", "0"))
        limit = int(query.get("limit", "100"))
    except ValueError:
        return _json({"error": "offset and limit must be whole numbers"}, status=400)
    page = await request.app[RUNTIME].errors_page(offset=offset, limit=limit, kind=query.get("kind") or None,
                                                  namespace=query.get("namespace"), name=query.get("name") or None)
    return _json(page)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    for resource, watch in rt.watches.items():
        rt.telemetry.watch_restarts.labels(resource=resource).set(watch.restarts)
        rt.telemetry.watch_relists.labels(resource=resource).set(watch.relists)
    body = generate_latest(rt.telemetry.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get("/objects")
async def objects(request: web.Request) -> web.Response:
    """For Kubernetes objects: the Avi objects made from each, and their sync state (through the families)."""
    rt = request.app[RUNTIME]
    kind = request.query.get("kind", "")
    namespace = request.query.get("namespace", "")
    name = request.query.get("name", "")
    problems = await rt.store.problems(kind=kind or None, namespace=namespace or None, name=name or None)
    result: list[dict[str, Any]] = []
    for family in rt.registry.families:
        subject = family.subject_kind
        if kind not in ("", subject):
            continue
        for obj in await rt.store.observed(kind=subject, namespace=namespace or None):
            if name and obj.name != name:
                continue
            errors = [{"field": p.field, "reason": p.reason, "message": p.message, "since": p.since}
                      for p in problems if (p.kind, p.namespace, p.name) == (subject, obj.namespace, obj.name)]
            made = await family.describe(ObjectRef(kind=subject, namespace=obj.namespace, name=obj.name))
            if made is None and not errors:
                continue
            result.append({"kind": subject, "namespace": obj.namespace, "name": obj.name,
                           "resource_version": obj.resource_version, **(made or {"avi_objects": []}),
                           "errors": errors})
    return _json({"objects": result})


def make_app(*, runtime: Runtime) -> web.Application:
    app = web.Application()
    app[RUNTIME] = runtime
    app.add_routes(routes)
    return app


class StatusServer:
    """Runs the app on `[status] listen`: `host:port` or `unix:/path`."""

    def __init__(self, *, runtime: Runtime, listen: str) -> None:
        self._runtime = runtime
        self._listen = listen
        self._runner: web.AppRunner | None = None
        self.address = ""

    async def start(self) -> None:
        self._runner = web.AppRunner(make_app(runtime=self._runtime), access_log=None)
        await self._runner.setup()
        if self._listen.startswith("unix:"):
            path = self._listen[len("unix:"):]
            site: web.BaseSite = web.UnixSite(self._runner, path)
            await site.start()
            self.address = f"unix:{path}"
        else:
            host, _, port = self._listen.rpartition(":")
            host = host.strip("[]") or "127.0.0.1"
            site = web.TCPSite(self._runner, host, int(port))
            await site.start()
            bound = next((a[1] for a in self._runner.addresses if isinstance(a, tuple)), int(port))
            self.address = f"http://{host}:{bound}"
        log.info("status endpoint on %s", self.address)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
