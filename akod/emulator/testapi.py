"""`/_emulator/*`: the test harness's side door (no login, never logged, never faulted).

Tests arrange and observe through it: inject faults, read the request log and the counters,
dump objects without a session, reset to the fixtures between cases, and ask how a request
would be routed (`/_emulator/route`, evaluated by `dataplane`). It is deliberately not
under `/api`, so nothing a client does against the controller API can reach it by accident.
"""

from __future__ import annotations

import ipaddress
import json

from aiohttp import web

from akod.emulator import dataplane
from akod.emulator.errors import bad_request
from akod.emulator.handlers import json_response, read_json
from akod.emulator.render import Renderer
from akod.emulator.state import STATE


async def requests(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        since = float(request.query["since"]) if "since" in request.query else None
    except ValueError:
        raise bad_request(f"since must be a number of seconds since the epoch, not {request.query['since']!r}") from None
    entries = state.log.entries(method=request.query.get("method"), path=request.query.get("path"), since=since)
    return json_response(json.dumps(entries))


async def stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = {**state.log.stats(), "objects": {t: state.store.count(t) for t in state.store.types()},
            "sessions": len(state.sessions)}
    return json_response(json.dumps(body))


async def faults_get(request: web.Request) -> web.Response:
    return json_response(json.dumps(request.app[STATE].faults.describe()))


async def faults_set(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request)
    state.faults.set(body if body is not None else {})
    return json_response(json.dumps(state.faults.describe()))


async def reset(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.reset()
    return json_response(json.dumps({"objects": len(state.store)}))


async def objects(request: web.Request) -> web.Response:
    state = request.app[STATE]
    obj_type = request.query.get("type")
    if not obj_type:
        return json_response(json.dumps({t: state.store.count(t) for t in state.store.types()}))
    if obj_type not in state.schema.known_types():
        raise bad_request(f"Unknown object type '{obj_type}'")
    renderer = Renderer(store=state.store, host=request.host, include_name=True)
    found = [renderer.object(o) for o in state.store.of_type(obj_type)]
    return json_response(renderer.dumps({"count": len(found), "results": found}))


async def route(request: web.Request) -> web.Response:
    """`?vip=&port=&host=&path=[&method=]`: 200 with the route, 404 (same shape) when nothing serves it."""
    query = request.query
    vip = query.get("vip", "").strip()
    try:
        ipaddress.ip_address(vip)
    except ValueError as exc:
        raise bad_request(f"query parameter 'vip' must be an IP address, got '{vip}'") from exc
    raw_port = query.get("port", "").strip()
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise bad_request(f"query parameter 'port' must be a port number, got '{raw_port}'")
    path = query.get("path", "/").split("?", 1)[0] or "/"
    if not path.startswith("/"):
        raise bad_request(f"query parameter 'path' must start with '/', got '{path}'")
    asked = dataplane.Request(vip=vip, port=int(raw_port), host=query.get("host", "").strip(),
                              path=path, method=query.get("method", "GET").strip() or "GET")
    answer = dataplane.route(store=request.app[STATE].store, request=asked)
    return json_response(json.dumps(answer.body), status=200 if answer.served else 404)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_emulator/requests", requests)
    app.router.add_get("/_emulator/stats", stats)
    app.router.add_get("/_emulator/faults", faults_get)
    app.router.add_post("/_emulator/faults", faults_set)
    app.router.add_post("/_emulator/reset", reset)
    app.router.add_get("/_emulator/objects", objects)
    app.router.add_get("/_emulator/route", route)
