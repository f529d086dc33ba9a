"""The object API: `/api/<type>` and `/api/<type>/<uuid>` for every type the emulator knows.

HTTP glue only: parse the body and query, find the object in the caller's tenant, call the CRUD
layer, render the answer the way the controller does (201 + `Location` on create, refs with
`#name` after writes, `{count, results, next}` for collections, 204 on delete). Singletons
(`systemconfiguration`, `controllerproperties`, `cluster`) answer GET/PUT/PATCH on the collection
URL. A trailing slash is accepted everywhere, as AKO uses both spellings.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from akod.emulator.context import RequestContext, context_of
from akod.emulator.errors import ApiError, bad_request, not_found
from akod.emulator.query import fields_of, flag, next_url, paginate, select
from akod.emulator.refs import visible_from
from akod.emulator.render import Renderer
from akod.emulator.schema import SINGLETONS
from akod.emulator.state import STATE, EmulatorState
from akod.emulator.store import StoredObject

JSON = "application/json"


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; None when empty."""
    text = await request.text()
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad_request(f"Invalid JSON body: {exc}") from exc


def json_response(text: str, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=text, status=status, content_type=JSON, headers=headers)


def _parts(request: web.Request) -> tuple[EmulatorState, RequestContext, str]:
    state = request.app[STATE]
    obj_type = request.match_info["type"]
    if obj_type not in state.schema.known_types():
        raise ApiError(404, f"Unknown object type '{obj_type}'")
    return state, context_of(request), obj_type


def _renderer(state: EmulatorState, ctx: RequestContext, *, include_name: bool,
              read: bool = True) -> Renderer:
    return Renderer(store=state.store, host=ctx.host, include_name=include_name,
                    version=ctx.api_version, show_secrets=read)


def _find(state: EmulatorState, ctx: RequestContext, obj_type: str, uuid: str) -> StoredObject:
    obj = state.store.get(uuid)
    if obj is None or obj.type != obj_type or not visible_from(obj, ctx.tenant):
        raise not_found(state.schema.model(obj_type))
    return obj


def _singleton(state: EmulatorState, obj_type: str) -> StoredObject:
    obj = state.singleton(obj_type)
    if obj is None:
        raise not_found(state.schema.model(obj_type))
    return obj


def _written(state: EmulatorState, ctx: RequestContext, obj: StoredObject, *, status: int) -> web.Response:
    renderer = _renderer(state, ctx, include_name=True, read=False)
    headers = {"Location": renderer.url(obj)} if status == 201 else None
    return json_response(renderer.dumps(renderer.object(obj)), status=status, headers=headers)


def _method_not_allowed(method: str) -> ApiError:
    return ApiError(405, f"Method '{method}' not allowed")


async def collection_get(request: web.Request) -> web.Response:
    state, ctx, obj_type = _parts(request)
    query = request.query
    renderer = _renderer(state, ctx, include_name=flag(query, "include_name"))
    fields = fields_of(query)
    if obj_type in SINGLETONS:
        obj = _singleton(state, obj_type)
        return json_response(renderer.dumps(renderer.object(obj, fields=fields)))
    matching = select(store=state.store, obj_type=obj_type, tenant=ctx.tenant, query=query)
    page = paginate(matching, query)
    body: dict[str, Any] = {
        "count": page.count,
        "results": [renderer.object(o, fields=fields) for o in page.objects],
    }
    if page.next_page is not None:
        body["next"] = next_url(scheme=ctx.scheme, host=ctx.host, path=request.path, query=query,
                                page=page.next_page)
    return json_response(renderer.dumps(body))


async def collection_post(request: web.Request) -> web.Response:
    state, ctx, obj_type = _parts(request)
    if obj_type in SINGLETONS:
        raise _method_not_allowed("POST")
    body = await read_json(request)
    obj = state.writer(tenant=ctx.tenant).create(obj_type, body, slug=request.headers.get("Slug") or None)
    return _written(state, ctx, obj, status=201)


async def collection_write(request: web.Request) -> web.Response:
    """PUT/PATCH on a singleton's collection URL."""
    state, ctx, obj_type = _parts(request)
    if obj_type not in SINGLETONS:
        raise _method_not_allowed(request.method)
    obj = _singleton(state, obj_type)
    return await _update(request, state, ctx, obj)


async def item_get(request: web.Request) -> web.Response:
    state, ctx, obj_type = _parts(request)
    obj = _find(state, ctx, obj_type, request.match_info["uuid"])
    renderer = _renderer(state, ctx, include_name=flag(request.query, "include_name"))
    return json_response(renderer.dumps(renderer.object(obj, fields=fields_of(request.query))))


async def item_write(request: web.Request) -> web.Response:
    state, ctx, obj_type = _parts(request)
    obj = _find(state, ctx, obj_type, request.match_info["uuid"])
    return await _update(request, state, ctx, obj)


async def _update(request: web.Request, state: EmulatorState, ctx: RequestContext,
                  obj: StoredObject) -> web.Response:
    writer = state.writer(tenant=ctx.tenant)
    writer.check_writable(obj)
    body = await read_json(request)
    updated = writer.replace(obj, body) if request.method == "PUT" else writer.patch(obj, body)
    return _written(state, ctx, updated, status=200)


async def item_delete(request: web.Request) -> web.Response:
    state, ctx, obj_type = _parts(request)
    if obj_type in SINGLETONS:
        raise _method_not_allowed("DELETE")
    obj = _find(state, ctx, obj_type, request.match_info["uuid"])
    writer = state.writer(tenant=ctx.tenant)
    writer.check_writable(obj)
    writer.delete(obj)
    return web.Response(status=204)


COLLECTION = r"/api/{type:[a-z0-9\-]+}{slash:/?}"
ITEM = r"/api/{type:[a-z0-9\-]+}/{uuid:[^/]+}{slash:/?}"


def add_routes(app: web.Application) -> None:
    app.router.add_get(COLLECTION, collection_get, allow_head=False)
    app.router.add_post(COLLECTION, collection_post)
    app.router.add_put(COLLECTION, collection_write)
    app.router.add_patch(COLLECTION, collection_write)
    app.router.add_get(ITEM, item_get, allow_head=False)
    app.router.add_put(ITEM, item_write)
    app.router.add_patch(ITEM, item_write)
    app.router.add_delete(ITEM, item_delete)
