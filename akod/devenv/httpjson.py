"""HTTP calls that answer (status, JSON body or text), for the harness's two REST peers.

The harness talks to the emulator (``akod.devenv.controller``) and to the daemon's status
endpoint (``akod.devenv.processes``) over real HTTP, as a user's script would. Both want the same
thing from a call: the status code and the body, parsed as JSON when it is JSON, as text when it
is not (``/metrics``, an error page) and None when it is empty; never an exception for a 4xx or
5xx, which callers check themselves.

By default each call opens its own ``aiohttp.ClientSession``: a helper can then be used from any
event loop and needs no closing, which suits tests. A benchmark that polls at 10 Hz keeps one
session instead (``keep_session=True``, then ``aclose()``), so that the polling costs the peer it
measures no new connection per call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp


class JsonHttp:
    """Calls to one base URL with fixed headers; see the module docstring for sessions."""

    def __init__(self, base_url: str, *, timeout_s: float, headers: Mapping[str, str] | None = None,
                 keep_session: bool = False) -> None:
        self.base_url = base_url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._headers = dict(headers or {})
        self._keep = keep_session
        self._session: aiohttp.ClientSession | None = None

    async def request(self, method: str, path: str, *, body: Any = None) -> tuple[int, Any]:
        """`method` `base_url + path` with `body` as JSON; (status, parsed JSON or text)."""
        if self._keep:
            if self._session is None or self._session.closed:
                self._session = aiohttp.ClientSession(timeout=self._timeout)
            return await self._send(self._session, method, path, body)
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            return await self._send(session, method, path, body)

    async def _send(self, session: aiohttp.ClientSession, method: str, path: str, body: Any) -> tuple[int, Any]:
        async with session.request(method, self.base_url + path, json=body, headers=self._headers) as resp:
            text = await resp.text()
        if not text.strip():
            return resp.status, None  # as aiohttp's resp.json() answers an empty body
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text

    async def aclose(self) -> None:
        """Close the kept session, if any (a later call opens a new one)."""
        if self._session is not None:
            await self._session.close()
            self._session = None
