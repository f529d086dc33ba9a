"""One HTTP attempt to the controller, paced and observed, and what came of it.

The client's policy (log in again? back off? raise which error? may a create be repeated?)
depends only on what one attempt produced: a reply with a status and a body, or no reply at
all, in which case it matters whether the request may have reached the controller. This module
produces exactly that and nothing more, so the policy in `client.py` reads as decisions over
two small types: `Reply` and `NoReply`.

Every attempt, logins included, waits for a `Pacer` slot, is reported once to the
`CallObserver` (status None when no reply came) and logged at debug level with its method, path,
status and duration; never with its headers or body, which hold the CSRF token, the cookies
and, for a login, the password. A 429 is also told to the pacer, with the time the call got its
token, so that the pace of every later call slows down (`throttling.py`).

One thing happens below this layer: aiohttp re-sends an idempotent request (GET, PUT, DELETE)
once by itself when the connection drops before the reply (RFC 9112, 9.3.1, meant for
kept-alive connections that the server closed). That resend is neither paced nor observed; it
is bounded to one and never applies to POST or PATCH.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from akod.avi.pacing import Pacer

log = logging.getLogger("akod.avi")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Failures after which the request certainly did not reach the controller.
_NOT_SENT: tuple[type[BaseException], ...] = tuple(
    cls
    for cls in (aiohttp.ClientConnectorError, getattr(aiohttp, "ConnectionTimeoutError", None))
    if cls is not None
)
# Failures no retry can fix: the controller's certificate is not trusted.
_FATAL: tuple[type[BaseException], ...] = (aiohttp.ClientConnectorCertificateError,)
_NO_REPLY: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    asyncio.TimeoutError,
)

_warned_insecure: set[str] = set()


class CallObserver(Protocol):
    """Told about every HTTP attempt (status None when no reply came), e.g. for metrics."""

    def on_call(
        self, *, method: str, obj_type: str, status: int | None, elapsed_s: float
    ) -> None: ...


MESSAGE_CHARS = 2000  # of a controller's error text kept in an AviError


@dataclass(frozen=True)
class Reply:
    """An HTTP reply of any status."""

    status: int
    body: Any  # the parsed JSON, or None when the body is empty or not JSON
    text: str
    retry_after: str | None

    @property
    def message(self) -> str:
        """The controller's `error` field if the body is JSON, else the text; cut at `MESSAGE_CHARS`.

        The message travels into errors, `/status` and object problems: a proxy's HTML page or an
        error that echoes a whole request must not.
        """
        text = ""
        if isinstance(self.body, Mapping):
            text = next((str(self.body[key]) for key in ("error", "detail") if self.body.get(key)), "")
        text = text or self.text.strip() or f"HTTP {self.status}"
        return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS - 3] + "..."


class NoReply(Exception):
    """An attempt ended without an HTTP reply.

    `maybe_sent`: the request may have reached the controller (the connection broke or timed
    out after it was sent), as opposed to a refused connection or a connect timeout.
    `fatal`: retrying cannot help (the controller's certificate is not trusted).
    """

    def __init__(self, cause: BaseException) -> None:
        detail = str(cause)
        super().__init__(f"{type(cause).__name__}: {detail}" if detail else type(cause).__name__)
        self.cause = cause
        self.maybe_sent = not isinstance(cause, _NOT_SENT)
        self.fatal = isinstance(cause, _FATAL)


def tls_setting(*, origin: str, ca_file: str, insecure: bool) -> ssl.SSLContext | bool:
    """Verification on by default, against `ca_file` if given; off only when asked, loudly."""
    if insecure:
        if origin not in _warned_insecure:
            _warned_insecure.add(origin)
            log.warning("TLS certificate verification is OFF for %s (insecure = true)", origin)
        return False
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    return ssl.create_default_context()


def obj_type_of(path: str) -> str:
    """`pool` for `/api/pool/pool-1?x=y`; `login` for `/login`."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if parts[0] == "api" and len(parts) > 1:
        return parts[1]
    return parts[0]


async def send_once(
    http: aiohttp.ClientSession,
    *,
    pacer: Pacer,
    observer: CallObserver | None,
    origin: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    params: Mapping[str, str] | None = None,
    body: Mapping[str, Any] | None = None,
    write_gate: Callable[[], None] | None = None,
) -> Reply:
    """One paced, observed attempt; raises `NoReply` when no HTTP reply came back.

    `write_gate` is asked right before a write to the configuration is sent (after the wait for a
    slot and a token, which can be long): it raises to keep the write from leaving at all.
    """
    data = None if body is None else json.dumps(body).encode()
    obj_type = obj_type_of(path)
    async with pacer.slot() as sent_at:
        if write_gate is not None and method in WRITES and path.startswith("/api/"):
            write_gate()
        started = time.monotonic()
        try:
            async with http.request(
                method, origin + path, params=params, data=data, headers=headers
            ) as response:
                raw = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except _NO_REPLY as exc:
            elapsed = time.monotonic() - started
            _observe(observer, method, obj_type, None, elapsed)
            log.debug("%s %s -> %s after %.0f ms", method, path, type(exc).__name__, elapsed * 1e3)
            raise NoReply(exc) from exc
    elapsed = time.monotonic() - started
    if status == 429:
        pacer.note_429(sent_at=sent_at)
    _observe(observer, method, obj_type, status, elapsed)
    log.debug("%s %s -> %d in %.0f ms", method, path, status, elapsed * 1e3)
    text = raw.decode("utf-8", errors="replace")
    return Reply(status=status, body=_json_or_none(text), text=text, retry_after=retry_after)


def _observe(
    observer: CallObserver | None, method: str, obj_type: str, status: int | None, elapsed: float
) -> None:
    if observer is None:
        return
    try:
        observer.on_call(method=method, obj_type=obj_type, status=status, elapsed_s=elapsed)
    except Exception:  # a broken metrics hook must not break calls
        log.exception("call observer failed")


def _json_or_none(text: str) -> Any:
    # The controller sometimes labels plain text as JSON (the CSRF 401), so parse, don't trust.
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
