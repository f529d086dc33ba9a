"""Controller endpoints that are not objects: login and logout, version and cluster probes, the
user's own account.

`POST /login` is the first call of every client and its answer is what clients parse the
controller version from (`version.Version`), so its body follows the recorded one key by key.
`/api/initial-data` and `/api/cluster/status` answer without a session (SDKs poll them while
deciding whether to log in again); `/api/cluster/runtime` is what AKO checks at start
(`CLUSTER_UP_NO_HA`). `PUT /api/useraccount` changes the caller's password (cassette
test_user_login).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from akod.emulator.auth import INVALID_CREDENTIALS, session_id_of, set_login_cookies
from akod.emulator.context import context_of
from akod.emulator.errors import ApiError, bad_request
from akod.emulator.handlers import json_response, read_json
from akod.emulator.render import Renderer
from akod.emulator.state import STATE, EmulatorState

BUILD = 9046
PURGE_AT = 1000  # sessions held before a login sweeps out the ended ones
STARTED = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def version_info(version: str) -> dict[str, Any]:
    return {
        "build": BUILD,
        "Tag": f"{version}-{BUILD}-20200720.043329",
        "ProductName": "Avi Cloud Controller",
        "min_version": 15.2,
        "Version": version,
        "Product": "controller",
        "Date": "2020-07-20T04:33:29+00:00",
    }


def _user(user: str, host: str) -> dict[str, Any]:
    return {
        "is_superuser": True,
        "default_tenant_ref": f"https://{host}/api/tenant/admin",
        "name": user,
        "username": user,
        "full_name": "System Administrator",
        "email": "",
        "local": True,
        "uuid": "user-1",
        "ui_property": "",
    }


def login_body(state: EmulatorState, *, host: str, user: str) -> dict[str, Any]:
    full = Renderer(store=state.store, host=host, include_name=False)
    relative = Renderer(store=state.store, host=host, include_name=False, relative=True)
    config = state.singleton("systemconfiguration")
    props = state.singleton("controllerproperties")
    tenants = [full.plain(full.object(t)) for t in state.store.of_type("tenant")]
    system_config = relative.plain(relative.object(config)) if config is not None else {}
    system_config["url"] = "/api/systemconfiguration"
    return {
        "user_initialized": True,
        "version": version_info(state.settings.version),
        "user": _user(user, host),
        "tenants": tenants,
        "system_config": system_config,
        "controller": {"api_idle_timeout": props.body.get("api_idle_timeout", 15) if props else 15},
        "session_cookie_name": "avi-sessionid",
    }


async def _credentials(request: web.Request) -> dict[str, str]:
    """Login bodies come form-encoded (Python SDK) or as JSON (Go and Java SDKs)."""
    text = await request.text()
    if request.content_type == "application/json" or text.lstrip().startswith("{"):
        try:
            data = json.loads(text or "{}")
        except json.JSONDecodeError as exc:
            raise bad_request(f"Invalid JSON body: {exc}") from exc
        return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


async def login(request: web.Request) -> web.Response:
    state = request.app[STATE]
    fields = await _credentials(request)
    user, password = fields.get("username", ""), fields.get("password", "")
    if not user or not state.accounts.check(user, password):
        raise ApiError(401, INVALID_CREDENTIALS)
    if len(state.sessions) >= PURGE_AT:
        state.sessions.purge(idle_s=state.idle_timeout_s(), absolute_s=state.absolute_timeout_s())
    session = state.sessions.open(user)
    body = login_body(state, host=request.host, user=user)
    response = json_response(json.dumps(body))
    set_login_cookies(response, session, secure=state.settings.tls)
    return response


async def logout(request: web.Request) -> web.Response:
    state = request.app[STATE]
    sid = session_id_of(request)
    if sid:
        state.sessions.close(sid)
    response = json_response(json.dumps({"detail": "Logged out"}))
    for name in ("avi-sessionid", "sessionid", "csrftoken"):
        response.del_cookie(name, path="/")
    return response


async def initial_data(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return json_response(json.dumps({
        "version": version_info(state.settings.version),
        "user_initialized": True,
        "setup_failed": False,
    }))


def _cluster_state(request: web.Request) -> dict[str, Any]:
    node = request.url.host or "127.0.0.1"
    return {
        "cluster_state": {"state": "CLUSTER_UP_NO_HA", "up_since": STARTED, "progress": 100},
        "node_states": [{"name": node, "role": "CLUSTER_LEADER", "state": "CLUSTER_ACTIVE",
                         "up_since": STARTED, "mgmt_ip": node}],
    }


async def cluster_runtime(request: web.Request) -> web.Response:
    return json_response(json.dumps({**_cluster_state(request), "service_states": []}))


async def cluster_status(request: web.Request) -> web.Response:
    return json_response(json.dumps(_cluster_state(request)))


async def cluster_version(request: web.Request) -> web.Response:
    return json_response(json.dumps(version_info(request.app[STATE].settings.version)))


async def useraccount_get(request: web.Request) -> web.Response:
    ctx = context_of(request)
    return json_response(json.dumps(_user(ctx.principal.user, ctx.host)))


async def useraccount_put(request: web.Request) -> web.Response:
    state = request.app[STATE]
    ctx = context_of(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("Invalid body: expected {\"old_password\": ..., \"password\": ...}")
    state.accounts.change(user=ctx.principal.user, old=str(body.get("old_password", "")),
                          new=str(body.get("password", "")))
    return web.Response(status=200, content_type="application/json")


#: `/api/*` paths that answer without a session.
UNAUTHENTICATED = frozenset({"/api/initial-data", "/api/cluster/status"})


def add_routes(app: web.Application) -> None:
    """Registered before the generic object routes, which would otherwise match these paths."""
    app.router.add_post(r"/login{slash:/?}", login)
    app.router.add_post(r"/logout{slash:/?}", logout)
    app.router.add_get(r"/api/initial-data{slash:/?}", initial_data)
    app.router.add_get(r"/api/cluster/runtime{slash:/?}", cluster_runtime)
    app.router.add_get(r"/api/cluster/status{slash:/?}", cluster_status)
    app.router.add_get(r"/api/cluster/version{slash:/?}", cluster_version)
    app.router.add_get(r"/api/useraccount{slash:/?}", useraccount_get)
    app.router.add_put(r"/api/useraccount{slash:/?}", useraccount_put)
