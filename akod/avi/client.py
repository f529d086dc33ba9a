"""The one client through which akod talks to an Avi controller.

Everything the sync layer needs from a controller is a handful of verbs (get, list, get by name,
post, put, patch, delete) that either return JSON or raise a typed `AviError`. Behind them this
module runs each call through the same steps: log in lazily (and again, once, when the session
has expired: 401/419), send one paced and observed HTTP attempt over the single
`aiohttp.ClientSession` of this controller (`transport.send_once`), and decide from the result
whether to return, raise, or back off and try again (`retrying.RetryPolicy`).

Retries and the outcome of writes (DESIGN.md "Crash safety", property 3):
- 5xx, 429 (waiting at least its `Retry-After`) and connection errors are retried with full-jitter
  exponential backoff, bounded by `max_attempts` and by `deadline_s` per call; when the budget
  is spent the call raises `AviUnavailable` carrying the last cause. Every retry is paced.
- A POST whose request may have reached the controller (the connection broke or timed out after
  it was sent) is NOT repeated: repeating a create blindly could make a duplicate, or turn a
  success into a confusing 409. It raises `AviOutcomeUnknown` (an `AviUnavailable`) naming the
  type, name and tenant, and the caller resolves it by reading the object back by name, which
  is deterministic. A POST that provably never left (connection refused, connect timeout) is
  retried like any call. A POST answered with 5xx/429 is retried: the controller answered, and
  should a create have happened anyway the retry gets 409, which the caller treats as "adopt".
- PUT, PATCH and DELETE are retried after connection errors: a PUT replaces the whole object,
  a DELETE that finds the object gone gets 404, which is success here; a PUT carrying
  `_last_modified` may then get 412, a typed error the caller handles by re-reading. A PATCH
  `add` of list entries is the one write that is not strictly idempotent; callers that need
  exactness use PUT or `replace`.
- 401/419 trigger one fresh login and one more attempt (not counted as a retry); a 401 whose
  body says `Invalid credentials`, and a refused login, raise `AviAuthError` at once.
- 400, 403, 404, 409 and 412 raise their typed errors at once; other statuses raise `AviError`.

The password is used only in the login body; cookies and the CSRF token stay in the jar and the
headers; none of them is logged, put in a repr, or in an exception's text.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import aiohttp

from akod.avi.errors import (
    AviAmbiguousName,
    AviAuthError,
    AviError,
    AviOutcomeUnknown,
    AviUnavailable,
    error_for_status,
)
from akod.avi.pacing import Pacer
from akod.avi.paths import as_object as _as_object
from akod.avi.paths import item_path as _item_path
from akod.avi.paths import path_and_query as _path_and_query
from akod.avi.retrying import RetryPolicy, is_retryable_status, parse_retry_after
from akod.avi.session import Session, make_cookie_jar, origin_of, says_invalid_credentials
from akod.avi.transport import (
    CallObserver,
    NoReply,
    Reply,
    obj_type_of,
    send_once,
    tls_setting,
)

log = logging.getLogger("akod.avi")

DEFAULT_PAGE_SIZE = "200"
_LOGOUT_TIMEOUT_S = 5.0


class AviClient:
    """A paced, retrying, typed-error REST client of one controller (use with `async with`)."""

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        password: str,
        tenant: str = "admin",
        version: str = "",
        ca_file: str = "",
        insecure: bool = False,
        timeout_s: float = 60.0,
        pacer: Pacer,
        observer: CallObserver | None = None,
        max_attempts: int = 6,
        backoff_base_s: float = 0.2,
        backoff_cap_s: float = 10.0,
        deadline_s: float = 120.0,
        write_gate: Callable[[], None] | None = None,
        user_agent: str = "",
    ) -> None:
        self._origin = origin_of(base_url)
        self._session = Session(
            origin=self._origin, username=username, password=password, version=version
        )
        self._tenant = tenant
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._ssl = tls_setting(origin=self._origin, ca_file=ca_file, insecure=insecure)
        self._pacer = pacer
        self._observer = observer
        self._policy = RetryPolicy(
            max_attempts=max_attempts,
            base_s=backoff_base_s,
            cap_s=backoff_cap_s,
            deadline_s=deadline_s,
        )
        self._http: aiohttp.ClientSession | None = None
        self._login_lock = asyncio.Lock()
        self._login_rounds = 0
        self._login_failure: AviError | None = None
        self.connected = False
        self.last_error: str | None = None
        # Asked before every write leaves (raises AviWriteRefused: a standby, a leader past its lease).
        self._write_gate = write_gate
        self._user_agent = user_agent

    def __repr__(self) -> str:
        return (
            f"AviClient(base_url={self._origin!r}, username={self._session.username!r}, "
            f"tenant={self._tenant!r}, connected={self.connected})"
        )

    @property
    def base_url(self) -> str:
        return self._origin

    @property
    def tenant(self) -> str:
        return self._tenant

    @property
    def controller_version(self) -> str | None:
        """`version.Version` from the last login reply."""
        return self._session.controller_version

    @property
    def api_version(self) -> str | None:
        """The effective `X-Avi-Version`: configured, else the controller's."""
        return self._session.api_version

    async def __aenter__(self) -> AviClient:
        if self._http is not None:
            raise RuntimeError("AviClient is already open")
        self._http = aiohttp.ClientSession(
            cookie_jar=make_cookie_jar(self._origin),
            connector=aiohttp.TCPConnector(ssl=self._ssl, limit=0),
            timeout=self._timeout,
            headers={"User-Agent": self._user_agent} if self._user_agent else None,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        http, self._http = self._http, None
        if http is None:
            return
        try:
            await self._logout(http)
        finally:
            self.connected = False
            await http.close()

    # The verbs.

    async def login(self) -> None:
        """Log in now rather than on the first call (e.g. to check credentials at start)."""
        await self._login(stale=self._session.generation)

    async def get(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        tenant: str | None = None,
    ) -> dict[str, Any]:
        """GET one resource: `/api/cluster/runtime`, or relative to /api: `vrfcontext/<uuid>`."""
        full = path if path.startswith("/") else f"/api/{path}"
        reply = await self._call("GET", full, params=params, tenant=tenant)
        return _as_object(reply, method="GET", path=full)

    async def list(
        self,
        obj_type: str,
        *,
        params: Mapping[str, str] | None = None,
        tenant: str | None = None,
    ) -> list[dict[str, Any]]:
        """All objects of a type matching `params`, following `next` across pages."""
        query = dict(params or {})
        query.setdefault("page_size", DEFAULT_PAGE_SIZE)
        path: str = f"/api/{obj_type}"
        page_params: Mapping[str, str] | None = query
        results: list[dict[str, Any]] = []
        seen: set[str] = set()
        while True:
            reply = await self._call("GET", path, params=page_params, tenant=tenant)
            page = _as_object(reply, method="GET", path=path)
            results.extend(page.get("results") or [])
            following = page.get("next")
            if not following:
                return results
            # The controller writes `next` with the host it thinks it has (often not ours).
            path, page_params = _path_and_query(str(following)), None
            if path in seen:
                raise AviError(status=reply.status, message="paging loops", method="GET", path=path)
            seen.add(path)

    async def get_by_name(
        self,
        obj_type: str,
        name: str,
        *,
        params: Mapping[str, str] | None = None,
        tenant: str | None = None,
    ) -> dict[str, Any] | None:
        """The object of that type and name, or None; more than one raises `AviAmbiguousName`."""
        query = {**(params or {}), "name": name}
        found = await self.list(obj_type, params=query, tenant=tenant)
        if len(found) > 1:
            raise AviAmbiguousName(
                status=200,
                message=f"{len(found)} objects named {name!r}",
                method="GET",
                path=f"/api/{obj_type}",
            )
        return found[0] if found else None

    async def post(
        self, obj_type: str, body: Mapping[str, Any], *, tenant: str | None = None
    ) -> dict[str, Any]:
        path = f"/api/{obj_type}"
        reply = await self._call("POST", path, body=body, tenant=tenant)
        return _as_object(reply, method="POST", path=path)

    async def put(
        self, obj_type: str, uuid: str, body: Mapping[str, Any], *, tenant: str | None = None
    ) -> dict[str, Any]:
        path = _item_path(obj_type, uuid)
        reply = await self._call("PUT", path, body=body, tenant=tenant)
        return _as_object(reply, method="PUT", path=path)

    async def patch(
        self, obj_type: str, uuid: str, body: Mapping[str, Any], *, tenant: str | None = None
    ) -> dict[str, Any]:
        """PATCH with `{"add"|"replace"|"delete": {...}}` (reference/avi-api.md 2.5)."""
        path = _item_path(obj_type, uuid)
        reply = await self._call("PATCH", path, body=body, tenant=tenant)
        return _as_object(reply, method="PATCH", path=path)

    async def delete(self, obj_type: str, uuid: str, *, tenant: str | None = None) -> None:
        """Delete; an object already gone (404) counts as deleted."""
        await self._call("DELETE", _item_path(obj_type, uuid), tenant=tenant)

    # One call: login, pacing, retries, typed errors.

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        tenant: str | None = None,
    ) -> Reply:
        http = self._require_open()
        tenant = tenant or self._tenant
        retry = self._policy.start(now=time.monotonic())
        relogged_in = False
        while True:
            if not self._session.logged_in:
                await self._login(stale=self._session.generation)
            generation = self._session.generation
            headers = self._session.headers(jar=http.cookie_jar, tenant=tenant)
            try:
                reply = await self._send(method, path, params=params, body=body, headers=headers)
            except NoReply as failure:
                if failure.fatal:
                    raise self._unavailable(
                        method, path, None, str(failure), failure.cause
                    ) from failure.cause
                if method == "POST" and failure.maybe_sent:
                    raise self._outcome_unknown(path, body, tenant, failure) from failure.cause
                delay = retry.backoff(now=time.monotonic())
                if delay is None:
                    raise self._unavailable(
                        method, path, None, str(failure), failure.cause
                    ) from failure.cause
                self._note_trouble(method, path, str(failure), delay)
                await asyncio.sleep(delay)
                continue

            if reply.status in (401, 419):
                if reply.status == 401 and says_invalid_credentials(reply.text):
                    raise self._failed(AviAuthError, reply, method, path)
                if relogged_in:
                    raise self._failed(AviError, reply, method, path)
                relogged_in = True
                log.info(
                    "session refused (%d) on %s %s; logging in again", reply.status, method, path
                )
                await self._login(stale=generation)
                continue

            if is_retryable_status(reply.status):
                delay = retry.backoff(
                    now=time.monotonic(), retry_after=parse_retry_after(reply.retry_after)
                )
                if delay is None:
                    last = error_for_status(
                        status=reply.status, message=reply.message, method=method, path=path
                    )
                    raise self._unavailable(method, path, reply.status, reply.message, last)
                self._note_trouble(method, path, f"{reply.status}: {reply.message}", delay)
                await asyncio.sleep(delay)
                continue

            self.connected = True
            if 200 <= reply.status < 300 or (method == "DELETE" and reply.status == 404):
                return reply
            raise self._failed(None, reply, method, path)

    async def _login(self, *, stale: int) -> None:
        """Log in unless another call already did since `stale`.

        Calls that queued behind a login share its outcome: when it failed (controller down,
        bad credentials) they raise the same error at once instead of each spending a whole
        retry budget on a login of their own, one after the other.
        """
        http = self._require_open()
        rounds_seen = self._login_rounds
        async with self._login_lock:
            if self._session.logged_in and self._session.generation != stale:
                return
            if self._login_rounds != rounds_seen and self._login_failure is not None:
                raise copy.copy(self._login_failure)
            try:
                await self._login_round(http)
            except AviError as error:
                self._login_failure = error
                raise
            else:
                self._login_failure = None
            finally:
                self._login_rounds += 1

    async def _login_round(self, http: aiohttp.ClientSession) -> None:
        """One login, retried like any call on 5xx, 429 and connection errors."""
        self._session.invalidate()
        http.cookie_jar.clear()
        retry = self._policy.start(now=time.monotonic())
        while True:
            try:
                reply = await self._send(
                    "POST",
                    "/login",
                    body=self._session.login_body(),
                    headers=self._session.login_headers(),
                )
            except NoReply as failure:
                # Logging in twice is harmless, so a login is retried even if it was sent.
                delay = None if failure.fatal else retry.backoff(now=time.monotonic())
                if delay is None:
                    raise self._unavailable(
                        "POST", "/login", None, str(failure), failure.cause
                    ) from failure.cause
                self._note_trouble("POST", "/login", str(failure), delay)
                await asyncio.sleep(delay)
                continue
            if 200 <= reply.status < 300:
                self._session.accept_login(reply.body)
                self.connected = True
                log.info(
                    "logged in to %s as %s (controller %s, API version %s)",
                    self._origin,
                    self._session.username,
                    self._session.controller_version,
                    self._session.api_version,
                )
                return
            if reply.status in (401, 403):
                raise self._failed(AviAuthError, reply, "POST", "/login")
            if is_retryable_status(reply.status):
                delay = retry.backoff(
                    now=time.monotonic(), retry_after=parse_retry_after(reply.retry_after)
                )
                if delay is None:
                    last = error_for_status(
                        status=reply.status, message=reply.message, method="POST", path="/login"
                    )
                    raise self._unavailable("POST", "/login", reply.status, reply.message, last)
                self._note_trouble("POST", "/login", f"{reply.status}: {reply.message}", delay)
                await asyncio.sleep(delay)
                continue
            raise self._failed(None, reply, "POST", "/login")

    async def _logout(self, http: aiohttp.ClientSession) -> None:
        if not self._session.logged_in:
            return
        headers = self._session.headers(jar=http.cookie_jar, tenant=self._tenant)
        try:
            async with asyncio.timeout(min(_LOGOUT_TIMEOUT_S, self._timeout.total or 60.0)):
                await self._send("POST", "/logout", headers=headers, http=http)
        except Exception as exc:  # best effort: the session expires on its own anyway
            log.debug("logout from %s failed (ignored): %s", self._origin, exc)
        finally:
            self._session.invalidate()

    async def _send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        http: aiohttp.ClientSession | None = None,
    ) -> Reply:
        return await send_once(
            http or self._require_open(),
            pacer=self._pacer,
            observer=self._observer,
            origin=self._origin,
            method=method,
            path=path,
            headers=headers,
            params=params,
            body=body,
            write_gate=self._write_gate,
        )

    # Bookkeeping.

    def _require_open(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("AviClient is not open: use `async with AviClient(...) as client`")
        return self._http

    def _note_trouble(self, method: str, path: str, what: str, delay: float) -> None:
        self.last_error = f"{method} {path}: {what}"
        log.info("%s %s: %s; retrying in %.2f s", method, path, what, delay)

    def _failed(self, cls: type[AviError] | None, reply: Reply, method: str, path: str) -> AviError:
        if cls is None:
            error = error_for_status(
                status=reply.status, message=reply.message, method=method, path=path
            )
        else:
            error = cls(status=reply.status, message=reply.message, method=method, path=path)
        if isinstance(error, AviAuthError):
            self.connected = False
            self._session.invalidate()  # the next call tries a fresh login, which tells for sure
        self.last_error = str(error)
        return error

    def _unavailable(
        self,
        method: str,
        path: str,
        status: int | None,
        message: str,
        cause: BaseException | None,
    ) -> AviUnavailable:
        error = AviUnavailable(
            status=status, message=message, method=method, path=path, cause=cause
        )
        self.connected = False
        self.last_error = str(error)
        log.warning("%s", error)
        return error

    def _outcome_unknown(
        self, path: str, body: Mapping[str, Any] | None, tenant: str, failure: NoReply
    ) -> AviOutcomeUnknown:
        name = body.get("name") if body is not None else None
        error = AviOutcomeUnknown(
            status=None,
            message=f"the create may have happened; read it back by name ({failure})",
            method="POST",
            path=path,
            cause=failure.cause,
            obj_type=obj_type_of(path),
            name=str(name) if name is not None else None,
            tenant=tenant,
        )
        self.connected = False
        self.last_error = str(error)
        log.warning("%s", error)
        return error

