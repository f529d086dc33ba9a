"""The per-request facts every API handler needs: caller, API version, tenant, host.

The controller serves any API version up to its own (`X-Avi-Version`, echoed back in
`AVI_API_VERSION`; higher is a 400 `Invalid version`), and evaluates every call in one tenant:
`X-Avi-Tenant` (a name), `X-Avi-Tenant-UUID`, or `*` for all tenants on reads; without either,
the user's default tenant (`admin`). A tenant that does not exist is a 403 AKO matches on
(`Tenant '<name>' does not exist!`). Resolving these once, before the handler, keeps handlers
about objects only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from akod.emulator.auth import Principal
from akod.emulator.errors import ApiError, bad_request
from akod.emulator.refs import ADMIN
from akod.emulator.store import Store

#: What the recorded controller answered in `AVI_API_VERSION` to calls without `X-Avi-Version`.
UNVERSIONED = "16_4_2"
ALL_TENANTS = "*"

_VERSION = re.compile(r"^\d+(?:[._]\d+){0,3}$")


def version_tuple(text: str) -> tuple[int, ...]:
    if not _VERSION.match(text.strip()):
        raise bad_request(f"Invalid version '{text}': expected a version like 20.1.2")
    return tuple(int(part) for part in re.split(r"[._]", text.strip()))


def requested_version(request: web.Request, *, controller: str) -> str:
    """The version a call asks for; 400 when above the controller's own."""
    asked = request.headers.get("X-Avi-Version")
    if asked is None or not asked.strip():
        return UNVERSIONED
    if version_tuple(asked) > version_tuple(controller):
        raise bad_request(f"Invalid version {asked.strip()}: the controller runs {controller}")
    return asked.strip()


@dataclass(frozen=True, slots=True)
class RequestContext:
    principal: Principal
    version: str
    api_version: tuple[int, ...]
    tenant: str | None  # tenant uuid; None for `*`
    tenant_label: str  # as the client named it, for the request log
    host: str
    scheme: str


def resolve_tenant(request: web.Request, store: Store) -> tuple[str | None, str]:
    """(tenant uuid or None for `*`, the label the client used)."""
    by_uuid = request.headers.get("X-Avi-Tenant-UUID")
    by_name = request.headers.get("X-Avi-Tenant")
    if by_uuid:
        if by_uuid == ALL_TENANTS:
            return None, ALL_TENANTS
        tenant = store.get(by_uuid)
        if tenant is None or tenant.type != "tenant":
            raise ApiError(403, f"Tenant '{by_uuid}' does not exist!")
        return tenant.uuid, tenant.name
    if by_name:
        if by_name == ALL_TENANTS:
            return None, ALL_TENANTS
        tenant_obj = store.find("tenant", by_name)
        if tenant_obj is None:
            raise ApiError(403, f"Tenant '{by_name}' does not exist!")
        return tenant_obj.uuid, tenant_obj.name
    return ADMIN, ADMIN


def tenant_label(request: web.Request) -> str | None:
    """The tenant a request names, without resolving it (for logging failed calls)."""
    return request.headers.get("X-Avi-Tenant") or request.headers.get("X-Avi-Tenant-UUID")


# Typed request keys exist from aiohttp 3.12 on; older versions take a plain string.
_CONTEXT: Any = (
    web.RequestKey("akod_emulator_context", object) if hasattr(web, "RequestKey")
    else "akod_emulator_context"
)


def attach(request: web.Request, context: RequestContext) -> None:
    request[_CONTEXT] = context


def find_context(request: web.Request) -> RequestContext | None:
    context = request.get(_CONTEXT)
    return context if isinstance(context, RequestContext) else None


def context_of(request: web.Request) -> RequestContext:
    context = request.get(_CONTEXT)
    if not isinstance(context, RequestContext):
        raise RuntimeError("API handler called without the API middleware")
    return context
