"""`/_emulator/*`: the test harness's side door (no login, never logged, never faulted).

Tests arrange and observe through it: inject faults, read the request log and the counters,
dump objects without a session, and reset to the fixtures between cases. It is deliberately not
under `/api`, so nothing a client does against the controller API can reach it by accident.
"""

from __future__ import annotations

import json

from aiohttp import web

from akod.emulator.errors import bad_request
from akod.emulator.handlers import json_response, read_json
from akod.emulator.render import Renderer
from akod.emulator.state import STATE


async def requests(request: web.Request) -> web.Response:
    state = request.app[STATE]
    entries = state.log.entries(method=request.query.get("method"), path=request.query.get("path"))
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


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_emulator/requests", requests)
    app.router.add_get("/_emulator/stats", stats)
    app.router.add_get("/_emulator/faults", faults_get)
    app.router.add_post("/_emulator/faults", faults_set)
    app.router.add_post("/_emulator/reset", reset)
    app.router.add_get("/_emulator/objects", objects)
