"""A small REST client for the Avi controller emulator, for whoever checks what akod built.

Tests assert on what a user would see on the controller, the benchmarks count the calls akod
made, and ``akod demo`` prints the objects: all three read the emulator over its real HTTP API
with basic auth, the way an operator's script would, and none uses akod's own client
(``akod.avi``), so that a bug there cannot hide itself. The emulator's side door
(``/_emulator/requests``, ``stats``, ``faults``, ``reset``, ``route``; CONTRACT.md) is here too.

Checks fail with :class:`~akod.devenv.errors.HarnessError` (an AssertionError), so a helper such
as :meth:`Controller.one` can serve as the probe of ``eventually`` until the object appears.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

from akod.devenv.errors import HarnessError
from akod.devenv.httpjson import JsonHttp

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SEED_VRF = "VRF_AZ1"  # the VRF of the seed's VIP network AVI_FRONTEND_3025
PAGE_SIZE = 200


def api_headers(*, username: str = "admin", password: str = "admin", tenant: str = "admin",
                version: str = "20.1.2") -> dict[str, str]:
    """Basic auth, API version and tenant: the headers a script sends to `/api/` without a session."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "X-Avi-Version": version, "X-Avi-Tenant": tenant}


class Controller:
    """The emulator at `url`, as user `username` of tenant `tenant` (API version `version`)."""

    def __init__(self, url: str, *, username: str = "admin", password: str = "admin", tenant: str = "admin",
                 version: str = "20.1.2", timeout_s: float = 60.0, keep_session: bool = False) -> None:
        self.url = url
        headers = {**api_headers(username=username, password=password, tenant=tenant, version=version),
                   "Content-Type": "application/json"}
        self._http = JsonHttp(url, timeout_s=timeout_s, headers=headers, keep_session=keep_session)

    async def aclose(self) -> None:
        """Close the kept HTTP session (only needed with keep_session=True)."""
        await self._http.aclose()

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Any call: (status, JSON body or text), whatever the status."""
        return await self._http.request(method, path, body=body)

    async def _ok(self, method: str, path: str, body: Any = None) -> Any:
        code, answer = await self.call(method, path, body)
        if code != 200:
            raise HarnessError(f"{method} {path} answered {code}: {answer}")
        return answer

    # -- objects ------------------------------------------------------------------------------

    async def one(self, obj_type: str, name: str) -> dict[str, Any]:
        """The one `obj_type` named `name`; fails unless there is exactly one."""
        code, body = await self.call("GET", f"/api/{obj_type}?{urlencode({'name': name})}")
        if code != 200 or body["count"] != 1:
            raise HarnessError(f"expected one {obj_type} named {name!r}: {(code, body)}")
        result: dict[str, Any] = body["results"][0]
        return result

    async def maybe(self, obj_type: str, name: str) -> dict[str, Any] | None:
        """The `obj_type` named `name`, or None."""
        body = await self._ok("GET", f"/api/{obj_type}?{urlencode({'name': name})}")
        return body["results"][0] if body["count"] else None

    async def objects(self, obj_type: str, *, contains: str) -> list[dict[str, Any]]:
        """Every `obj_type` whose name contains `contains`, all pages."""
        query = urlencode({"name.contains": contains, "page_size": PAGE_SIZE})
        body = await self._ok("GET", f"/api/{obj_type}?{query}")
        found: list[dict[str, Any]] = list(body["results"])
        while body.get("next"):
            body = await self._ok("GET", "/api/" + body["next"].split("/api/", 1)[1])
            found += body["results"]
        return found

    async def names(self, obj_type: str, contains: str = "S1-AZ1--") -> list[str]:
        """The sorted names of `obj_type` containing `contains` (by default: cluster S1-AZ1's)."""
        return sorted(o["name"] for o in await self.objects(obj_type, contains=contains))

    async def vrf_routes(self, vrf: str = SEED_VRF) -> list[dict[str, Any]]:
        """The static routes of VRF context `vrf`."""
        routes: list[dict[str, Any]] = (await self.one("vrfcontext", vrf)).get("static_routes") or []
        return routes

    async def add_route(self, route: dict[str, Any], vrf: str = SEED_VRF) -> None:
        """Add `route` to `vrf` the way an operator would by hand (a PATCH add)."""
        obj = await self.one("vrfcontext", vrf)
        await self._ok("PATCH", f"/api/vrfcontext/{obj['uuid']}", {"add": {"static_routes": [route]}})

    # -- the emulator's side door ---------------------------------------------------------------

    async def requests(self) -> list[dict[str, Any]]:
        """The request log: [{t, method, path, query, status, tenant}]."""
        body = await self._ok("GET", "/_emulator/requests")
        log: list[dict[str, Any]] = body if isinstance(body, list) else body.get("requests", body)
        return log

    async def writes(self) -> list[dict[str, Any]]:
        """The logged write calls to the configuration API (login/logout are not under /api/)."""
        return [r for r in await self.requests() if r["method"] in WRITE_METHODS and r["path"].startswith("/api/")]

    async def stats(self) -> dict[str, Any]:
        """Counts by method and object type, and objects held (`/_emulator/stats`)."""
        body: dict[str, Any] = await self._ok("GET", "/_emulator/stats")
        return body

    async def count(self, obj_type: str) -> int:
        """How many `obj_type` objects the emulator holds."""
        return int((await self.stats())["objects"].get(obj_type, 0))

    async def faults(self, spec: dict[str, Any]) -> None:
        """Set the emulator's faults (rate limit, errors, latency...; CONTRACT.md)."""
        await self._ok("POST", "/_emulator/faults", spec)

    async def reset(self) -> None:
        """Back to the fixtures: objects, addresses, request log."""
        await self._ok("POST", "/_emulator/reset")

    async def route(self, *, vip: str, port: int, host: str, path: str = "/") -> tuple[int, dict[str, Any]]:
        """How the data plane would serve `host` + `path` on `vip:port`; 404 with a reason if nothing does."""
        query = urlencode({"vip": vip, "port": port, "host": host, "path": path})
        return await self.call("GET", f"/_emulator/route?{query}")
