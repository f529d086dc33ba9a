"""The local HTTP status endpoint: what the daemon is doing, for people, scripts and Prometheus.

Listens on loopback TCP or a Unix socket (`[status] listen`). It only reads the `Runtime`; no
handler writes anything or calls the controller. No secret (password, key, cookie, token) is in
any answer: the runtime holds none to show.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

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
    """For Kubernetes objects: the Avi objects made from each, and their sync state."""
    rt = request.app[RUNTIME]
    kind = request.query.get("kind", "")
    namespace = request.query.get("namespace", "")
    name = request.query.get("name", "")
    result: list[dict[str, Any]] = []
    if kind in ("", "Node"):
        result.extend(await _nodes(rt, namespace=namespace, name=name))
    if kind in ("", "Service"):
        result.extend(await _services(rt, namespace=namespace, name=name))
    if kind in ("", "Ingress"):
        result.extend(await _ingresses(rt, namespace=namespace, name=name))
    return _json({"objects": result})


async def _made(rt: Runtime, key: str, wanted: Callable[[str], bool] = lambda _: True) -> list[dict[str, Any]]:
    """The Avi objects of one key (those `wanted` by name), with their sync state."""
    made = []
    for d in await rt.store.desired(owner_key=key):
        if not wanted(d.name):
            continue
        applied = await rt.store.applied(obj_type=d.obj_type, tenant=d.tenant, name=d.name)
        made.append({"type": d.obj_type, "name": d.name, "tenant": d.tenant, "key": key,
                     "uuid": applied.uuid if applied else "",
                     "state": "applied" if applied is not None and applied.checksum == d.checksum else "pending",
                     **({"vips": applied.info.get("vips", [])} if applied and d.obj_type == "vsvip" else {})})
    return made


async def _ingresses(rt: Runtime, *, namespace: str, name: str) -> list[dict[str, Any]]:
    """An Ingress's shards, the hosts it is served on, and the objects of its own (pools, SNI children...)."""
    problems = await rt.store.problems()
    out = []
    for ing in await rt.store.observed(kind="Ingress", namespace=namespace or None):
        if name and ing.name != name:
            continue
        ident = (ing.namespace, ing.name)
        keys = sorted(rt.l7.index.keys_of.get(ident, ())) if rt.l7 is not None else []
        errors = [{"field": p.field, "reason": p.reason, "message": p.message, "since": p.since}
                  for p in problems if p.kind == "Ingress" and p.namespace == ing.namespace and p.name == ing.name]
        if not keys and not errors:
            continue
        served = sorted({(host, ip) for key in keys for host, ip, _ in
                         (rt.l7.served.get(key, {}).get(ident, []) if rt.l7 is not None else [])})
        hosts = {host for host, _ in served}
        suffix = f"-{ing.namespace}-{ing.name}"

        def own(obj_name: str) -> bool:
            return (suffix in obj_name or any(obj_name.endswith(f"--{h}") or f"-{h}" in obj_name for h in hosts)
                    or "Shared-L7-" in obj_name)

        made = [m for key in keys for m in await _made(rt, key, own)]
        out.append({"kind": "Ingress", "namespace": ing.namespace, "name": ing.name,
                    "resource_version": ing.resource_version, "keys": keys,
                    "hosts": [{"host": h, "vip": ip} for h, ip in served], "avi_objects": made, "errors": errors})
    return out


async def _services(rt: Runtime, *, namespace: str, name: str) -> list[dict[str, Any]]:
    store = rt.store
    problems = await store.problems()
    out = []
    for svc in await store.observed(kind="Service", namespace=namespace or None):
        if name and svc.name != name:
            continue
        key = rt.l4.index.key_of.get((svc.namespace, svc.name)) if rt.l4 is not None else None
        errors = [{"field": p.field, "reason": p.reason, "message": p.message, "since": p.since}
                  for p in problems if p.kind == "Service" and p.namespace == svc.namespace and p.name == svc.name]
        if key is None and not errors:
            continue
        made = await _made(rt, key) if key else []
        out.append({"kind": "Service", "namespace": svc.namespace, "name": svc.name,
                    "resource_version": svc.resource_version, "key": key or "", "avi_objects": made,
                    "errors": errors})
    return out


async def _nodes(rt: Runtime, *, namespace: str, name: str) -> list[dict[str, Any]]:
    if namespace:
        return []
    store = rt.store
    cluster = rt.settings.cluster.name
    desired = await store.desired(owner_key="vrf")
    routes_by_id: dict[str, dict[str, Any]] = {}
    state = "pending"
    vrf = ""
    for d in desired:
        vrf = d.name
        applied = await store.applied(obj_type=d.obj_type, tenant=d.tenant, name=d.name)
        state = "applied" if applied is not None and applied.checksum == d.checksum else "pending"
        for route in d.body.get("static_routes", []):
            routes_by_id[str(route.get("route_id"))] = route
    problems = await store.problems()
    out = []
    for node in await store.observed(kind="Node"):
        if name and node.name != name:
            continue
        pattern = re.compile(re.escape(f"{cluster}-{node.name}-") + r"\d+$")
        made = [
            {"type": "vrfcontext.static_route", "vrf": vrf, "route_id": rid,
             "prefix": f"{r['prefix']['ip_addr']['addr']}/{r['prefix']['mask']}",
             "next_hop": r["next_hop"]["addr"], "state": state}
            for rid, r in sorted(routes_by_id.items()) if pattern.match(rid)
        ]
        out.append({
            "kind": "Node", "namespace": "", "name": node.name, "resource_version": node.resource_version,
            "avi_objects": made,
            "errors": [{"field": p.field, "reason": p.reason, "message": p.message, "since": p.since}
                       for p in problems if p.kind == "Node" and p.name == node.name],
        })
    return out


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
            sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
            bound = sockets[0].getsockname()[1] if sockets else int(port)
            self.address = f"http://{host}:{bound}"
        log.info("status endpoint on %s", self.address)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
