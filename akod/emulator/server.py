"""The aiohttp application and `EmulatorServer`, the way tests and the CLI run the emulator.

Requests pass two middlewares before a handler. The outer one is the controller's front door:
it records the request log and applies injected faults (outage, rate limit, dropped connection,
injected errors, latency) to everything but `/_emulator/*`, and turns any `ApiError` into the
controller's error body. The inner one guards `/api/*` like the controller does: session or
Basic auth, CSRF, API version, tenant; it re-sends the session cookies and `AVI_API_VERSION` on
every answer, errors included (as recorded).

    async with EmulatorServer(fixtures="seed") as emu:
        ...  # emu.url, emu.state
"""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from akod.emulator import handlers, system, testapi
from akod.emulator.auth import Principal, authenticate, check_csrf, set_session_cookies
from akod.emulator.certs import self_signed
from akod.emulator.context import (
    UNVERSIONED,
    RequestContext,
    attach,
    find_context,
    requested_version,
    resolve_tenant,
    tenant_label,
    version_tuple,
)
from akod.emulator.errors import ApiError
from akod.emulator.state import DEFAULT_VERSION, STATE, EmulatorState, Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TEST_PREFIX = "/_emulator"


def error_response(error: ApiError) -> web.Response:
    """The controller's error answer (plain text for CSRF, with a JSON content type, as recorded)."""
    text = error.message if error.text else json.dumps(error.body())
    return web.Response(text=text, status=error.status, content_type="application/json")


def _http_error(exc: web.HTTPException) -> web.Response:
    return error_response(ApiError(exc.status, exc.reason))


@web.middleware
async def front_door(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(TEST_PREFIX):
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc)
        except web.HTTPException as exc:
            return _http_error(exc)
    state = request.app[STATE]
    status = 0
    response: web.StreamResponse
    try:
        body = await request.text() if state.faults.wants_body(request.method) else None
        verdict = state.faults.decide(method=request.method, path=request.path,
                                      client=request.remote or "unknown", body=body)
        if verdict.drop:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if verdict.status is not None:
            response = error_response(ApiError(verdict.status, verdict.message))
            if verdict.retry_after is not None:
                response.headers["Retry-After"] = str(verdict.retry_after)
        else:
            if verdict.delay_s > 0:
                await asyncio.sleep(verdict.delay_s)
            try:
                response = await handler(request)
            except ApiError as exc:
                response = error_response(exc)
            except web.HTTPException as exc:
                response = _http_error(exc)
        status = response.status
        return response
    finally:
        context = find_context(request)
        label = context.tenant_label if context is not None else tenant_label(request)
        state.log.record(method=request.method, path=request.path, query=request.query,
                         status=status, tenant=label, size=request.content_length or 0,
                         client=request.headers.get("User-Agent", ""))


@web.middleware
async def api_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/") and request.path not in ("/login", "/login/"):
        return await handler(request)
    state = request.app[STATE]
    principal: Principal | None = None
    response: web.StreamResponse
    try:
        if request.path.startswith("/api/"):
            if request.path.rstrip("/") in system.UNAUTHENTICATED:
                principal = Principal(user="", session=None)
            else:
                principal = authenticate(
                    request, sessions=state.sessions, accounts=state.accounts,
                    idle_s=state.idle_timeout_s(), absolute_s=state.absolute_timeout_s(),
                )
                check_csrf(request, principal)
            version = requested_version(request, controller=state.settings.version)
            tenant, label = resolve_tenant(request, state.store)
            attach(request, RequestContext(principal=principal, version=version,
                                           api_version=version_tuple(version), tenant=tenant,
                                           tenant_label=label, host=request.host,
                                           scheme=request.scheme))
        response = await handler(request)
    except ApiError as exc:
        response = error_response(exc)
    except web.HTTPException as exc:
        response = _http_error(exc)
    response.headers["AVI_API_VERSION"] = (request.headers.get("X-Avi-Version") or "").strip() or UNVERSIONED
    if principal is not None and principal.user:
        # Basic auth answers carry `avi-sessionid=None` too (cassette test_basic_auth).
        sid = principal.session.sid if principal.session is not None else "None"
        set_session_cookies(response, sid, secure=state.settings.tls)
    return response


def build_app(state: EmulatorState) -> web.Application:
    app = web.Application(middlewares=[front_door, api_guard], client_max_size=64 * 1024**2)
    app[STATE] = state
    testapi.add_routes(app)
    system.add_routes(app)
    handlers.add_routes(app)
    return app


class EmulatorServer:
    """An emulator on a real socket for the duration of an `async with` block."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fixtures: str = "seed",
        username: str = "admin",
        password: str = "admin",
        strict: bool = False,
        tls: bool = False,
        version: str = DEFAULT_VERSION,
        faults: dict[str, Any] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.state = EmulatorState(
            Settings(fixtures=fixtures, username=username, password=password, strict=strict,
                     tls=tls, version=version),
            faults=faults,
        )
        self.ca_file: Path | None = None  # the self-signed certificate, with tls=True
        self._runner: web.AppRunner | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the emulator is not running")
        scheme = "https" if self.state.settings.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        ssl_context = self._ssl_context() if self.state.settings.tls else None
        runner = web.AppRunner(build_app(self.state), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=ssl_context)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def _ssl_context(self) -> ssl.SSLContext:
        hosts = [self.host, "127.0.0.1", "localhost"]
        cert = self_signed(hosts=[h for h in hosts if h not in ("0.0.0.0", "::")])
        self._tmp = tempfile.TemporaryDirectory(prefix="akod-emulator-")
        folder = Path(self._tmp.name)
        self.ca_file = folder / "emulator-cert.pem"
        key_file = folder / "emulator-key.pem"
        self.ca_file.write_bytes(cert.cert_pem)
        key_file.write_bytes(cert.key_pem)
        key_file.chmod(0o600)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.ca_file, key_file)
        return context
