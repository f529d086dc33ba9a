"""Who is calling: sessions, CSRF, HTTP Basic, and the cookies the controller sets.

The controller authenticates `/api/*` with a Django session: `POST /login` hands out a session id
(cookies `avi-sessionid` and `sessionid`, same value) and a `csrftoken`; every unsafe call must
echo the token in `X-CSRFToken` (else 401, plain text `CSRF token missing or incorrect.`).
Sessions end after an idle time (`controllerproperties.api_idle_timeout`, minutes) and an absolute
lifetime (`systemconfiguration.portal_configuration.api_force_timeout`, hours); an ended or
unknown session is a 401 and clients log in again. HTTP Basic works on every call without a
session (cassette test_basic_auth). Clients recover from all of this, so it must be exact.

The CSRF token is checked against the token issued with the session (the recordings show the
controller accepting a request whose jar held a stale `csrftoken` cookie beside the right one),
which for a well-behaved client is the value of its `csrftoken` cookie.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from akod.emulator.errors import ApiError

SESSION_COOKIES = ("avi-sessionid", "sessionid")
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "X-CSRFToken"
SESSION_MAX_AGE = 86400  # seconds; what the controller puts on its session cookies
CSRF_MAX_AGE = 31449600  # one year minus a day, as recorded
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FAILED = "CSRF token missing or incorrect."
NOT_AUTHENTICATED = "Authentication credentials were not provided."
INVALID_CREDENTIALS = "Invalid credentials"

_SESSION_ALPHABET = string.ascii_lowercase + string.digits
_CSRF_ALPHABET = string.ascii_letters + string.digits


def _token(alphabet: str, length: int = 32) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass(slots=True)
class Session:
    sid: str
    csrf: str
    user: str
    created: float  # monotonic seconds
    last_seen: float


@dataclass(frozen=True, slots=True)
class Principal:
    user: str
    session: Session | None  # None: authenticated by HTTP Basic


class Accounts:
    """Local users and their passwords (`PUT /api/useraccount` changes one)."""

    def __init__(self, users: dict[str, str]) -> None:
        self._passwords = dict(users)

    def check(self, user: str, password: str) -> bool:
        known = self._passwords.get(user)
        return known is not None and hmac.compare_digest(known.encode(), password.encode())

    def change(self, *, user: str, old: str, new: str) -> None:
        if not self.check(user, old):
            raise ApiError(400, "Old password is incorrect")
        if not new:
            raise ApiError(400, "New password must not be empty")
        self._passwords[user] = new


class Sessions:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._by_id: dict[str, Session] = {}

    def open(self, user: str) -> Session:
        now = self.clock()
        session = Session(sid=_token(_SESSION_ALPHABET), csrf=_token(_CSRF_ALPHABET), user=user,
                          created=now, last_seen=now)
        self._by_id[session.sid] = session
        return session

    def get(self, sid: str) -> Session | None:
        return self._by_id.get(sid)

    def close(self, sid: str) -> None:
        self._by_id.pop(sid, None)

    def __len__(self) -> int:
        return len(self._by_id)

    def purge(self, *, idle_s: float, absolute_s: float) -> None:
        """Forget ended sessions (clients that log in often and never log out leave many)."""
        now = self.clock()
        for sid, session in list(self._by_id.items()):
            if now - session.last_seen > idle_s or now - session.created > absolute_s:
                del self._by_id[sid]

    def touch(self, sid: str, *, idle_s: float, absolute_s: float) -> Session | None:
        """The live session with this id (refreshing its idle timer), or None if it has ended."""
        session = self._by_id.get(sid)
        if session is None:
            return None
        now = self.clock()
        if now - session.last_seen > idle_s or now - session.created > absolute_s:
            del self._by_id[sid]
            return None
        session.last_seen = now
        return session


def session_id_of(request: web.Request) -> str | None:
    for name in SESSION_COOKIES:
        value = request.cookies.get(name)
        if value:
            return value
    return None


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def authenticate(
    request: web.Request, *, sessions: Sessions, accounts: Accounts, idle_s: float,
    absolute_s: float,
) -> Principal:
    """The caller of an `/api/*` request, or the controller's 401."""
    credentials = basic_credentials(request)
    if credentials is not None:
        if accounts.check(*credentials):
            return Principal(user=credentials[0], session=None)
        raise ApiError(401, INVALID_CREDENTIALS)
    sid = session_id_of(request)
    session = sessions.touch(sid, idle_s=idle_s, absolute_s=absolute_s) if sid else None
    if session is None:
        raise ApiError(401, NOT_AUTHENTICATED)
    return Principal(user=session.user, session=session)


def check_csrf(request: web.Request, principal: Principal) -> None:
    if principal.session is None or request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), principal.session.csrf.encode()):
        raise ApiError(401, CSRF_FAILED, text=True)


def _expires(max_age: int) -> str:
    return time.strftime("%a, %d-%b-%Y %H:%M:%S GMT", time.gmtime(time.time() + max_age))


def set_session_cookies(response: web.StreamResponse, value: str, *, secure: bool) -> None:
    """`avi-sessionid` and `sessionid`, re-sent with a fresh Max-Age on every authenticated answer."""
    for name in SESSION_COOKIES:
        response.set_cookie(name, value, expires=_expires(SESSION_MAX_AGE), httponly=True,
                            max_age=SESSION_MAX_AGE, path="/", secure=secure or None)


def set_login_cookies(response: web.StreamResponse, session: Session, *, secure: bool) -> None:
    response.set_cookie(CSRF_COOKIE, session.csrf, expires=_expires(CSRF_MAX_AGE),
                        max_age=CSRF_MAX_AGE, path="/", secure=secure or None)
    set_session_cookies(response, session.sid, secure=secure)
