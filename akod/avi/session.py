"""What it takes to be logged in to a controller: credentials, cookies, CSRF and the headers.

The controller's API is a Django session API (reference/avi-api.md section 1): `POST /login`
with a JSON body sets the `csrftoken`, `avi-sessionid` and `sessionid` cookies; every later
call sends the cookies back, echoes the CSRF cookie in `X-CSRFToken`, and names the base URL in
`Referer`, the API version in `X-Avi-Version` and the tenant in `X-Avi-Tenant`. Sessions expire
(idle 15 min, absolute 24 h) or are invalidated (password change), and the controller then
answers 401 or 419; the client logs in again.

This module keeps that state apart from the HTTP mechanics of `client.py`:
- the password lives in a `Secret` whose repr is masked and is revealed only into the login
  body;
- cookies live in the aiohttp cookie jar (`unsafe=True`, because controllers are usually
  addressed by IP); the CSRF token is read from the jar for each request, so a rotated token is
  picked up; neither is ever logged;
- `generation` counts logins, so that when many calls see their session expire at once only
  the first logs in again and the others simply retry with the new session.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from http.cookies import BaseCookie
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiohttp.abc

CSRF_COOKIE = "csrftoken"
INVALID_CREDENTIALS = "Invalid credentials"


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


def origin_of(base_url: str) -> str:
    """`scheme://host[:port]` of a controller URL given with or without a path or slash."""
    parts = urlsplit(base_url if "://" in base_url else f"https://{base_url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not a controller URL: {base_url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def make_cookie_jar(origin: str) -> aiohttp.CookieJar:
    # The controller marks its cookies Secure. Over plain http (a local emulator) they would
    # never be sent back; since such a URL already carries the password in clear, treat that
    # one origin as secure rather than fail every call with 401.
    secure_origins = [origin] if origin.startswith("http://") else None
    return SessionCookieJar(unsafe=True, treat_as_secure_origin=secure_origins)


class SessionCookieJar(aiohttp.CookieJar):
    """aiohttp's cookie jar, without redoing the same work on every call.

    The controller re-sends its session cookies, unchanged but for a fresh expiry, with every
    answer, and aiohttp parses and stores them each time, then filters the whole jar again for
    the next request: together a noticeable share of a call's CPU. Here a batch of Set-Cookie
    headers equal to the last one stored (ignoring the `expires` date, which moves with the
    clock) is stored again only once per `REFRESH_S`, so expiries stay within that much of the
    controller's; and what `filter_cookies` returns is reused for `FILTER_TTL_S` per URL, until
    the jar changes. Anything else (a new value, a Max-Age=0, a clear at login) takes aiohttp's
    own path at once.
    """

    REFRESH_S = 60.0
    FILTER_TTL_S = 1.0
    _FILTER_CACHE_SIZE = 64

    def __init__(self, **kwargs: Any) -> None:
        self._last_set: tuple[str | None, tuple[str, ...]] | None = None
        self._last_set_at = 0.0
        self._filtered: dict[tuple[str, str], tuple[float, BaseCookie[str]]] = {}
        super().__init__(**kwargs)

    def update_cookies_from_headers(self, headers: Sequence[str], response_url: Any) -> None:
        if not headers:
            return
        key = (response_url.raw_host, tuple(_without_expires(h) for h in headers))
        now = time.monotonic()
        if key == self._last_set and now - self._last_set_at < self.REFRESH_S:
            return
        super().update_cookies_from_headers(headers, response_url)
        self._last_set, self._last_set_at = key, now
        self._filtered.clear()

    def update_cookies(self, *args: Any, **kwargs: Any) -> None:
        super().update_cookies(*args, **kwargs)
        self._forget()

    def clear(self, *args: Any, **kwargs: Any) -> None:
        super().clear(*args, **kwargs)
        self._forget()

    def clear_domain(self, domain: str) -> None:
        super().clear_domain(domain)
        self._forget()

    def filter_cookies(self, request_url: Any = None) -> BaseCookie[str]:
        if request_url is None or not request_url.absolute:
            return super().filter_cookies() if request_url is None else super().filter_cookies(request_url)
        key = (str(request_url.origin()), request_url.path)
        now = time.monotonic()
        hit = self._filtered.get(key)
        if hit is not None and now - hit[0] < self.FILTER_TTL_S:
            return hit[1]
        filtered = super().filter_cookies(request_url)
        if len(self._filtered) >= self._FILTER_CACHE_SIZE:
            self._filtered.clear()
        self._filtered[key] = (now, filtered)
        return filtered

    def _forget(self) -> None:
        self._last_set = None
        self._filtered.clear()


def _without_expires(header: str) -> str:
    return ";".join(p for p in header.split(";") if not p.strip().lower().startswith("expires="))


class Session:
    """Login state of one controller: who we are, which version we speak, which login this is."""

    def __init__(self, *, origin: str, username: str, password: str, version: str) -> None:
        self.origin = origin
        self.username = username
        self._password = Secret(password)
        self._configured_version = version
        self.controller_version: str | None = None
        self.logged_in = False
        self.generation = 0

    def __repr__(self) -> str:
        return (
            f"Session(origin={self.origin!r}, username={self.username!r}, "
            f"logged_in={self.logged_in}, generation={self.generation})"
        )

    @property
    def api_version(self) -> str | None:
        """The `X-Avi-Version` sent: the configured one, else the controller's own."""
        return self._configured_version or self.controller_version

    def login_body(self) -> dict[str, str]:
        """The only place the password leaves its `Secret`."""
        return {"username": self.username, "password": self._password.reveal()}

    def login_headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Referer": self.origin}
        if self._configured_version:
            headers["X-Avi-Version"] = self._configured_version
        return headers

    def accept_login(self, reply: Any) -> None:
        """Record a successful login reply (its `version.Version` is the controller's)."""
        version = reply.get("version") if isinstance(reply, Mapping) else None
        if isinstance(version, Mapping) and version.get("Version"):
            self.controller_version = str(version["Version"])
        self.logged_in = True
        self.generation += 1

    def invalidate(self) -> None:
        self.logged_in = False

    def headers(self, *, jar: aiohttp.abc.AbstractCookieJar, tenant: str) -> dict[str, str]:
        """Headers of an API call; the session cookies themselves are added by the jar."""
        headers = {
            "Content-Type": "application/json",
            "Referer": self.origin,
            "X-Avi-Tenant": tenant,
        }
        if self.api_version:
            headers["X-Avi-Version"] = self.api_version
        csrf = csrf_token(jar)
        if csrf:
            headers["X-CSRFToken"] = csrf
        return headers


def csrf_token(jar: aiohttp.abc.AbstractCookieJar) -> str | None:
    """The CSRF cookie set by the last login (the jar serves this one controller only)."""
    token = None
    for morsel in jar:
        if morsel.key == CSRF_COOKIE and morsel.value:
            token = morsel.value
    return token


def says_invalid_credentials(text: str) -> bool:
    """AKO shuts down on this substring of a 401; so does akod (it is never retried)."""
    return INVALID_CREDENTIALS.lower() in text.lower()
