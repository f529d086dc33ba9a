"""Shared arrangements for the emulator tests: a running emulator and a small Avi client.

The client does what every Avi SDK does (log in, keep the cookies, echo the CSRF token, send
`X-Avi-Version` and `X-Avi-Tenant`), so tests read as the calls a real client makes and can
still step outside the protocol (drop the token, forge a version) when that is the behaviour
under test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from akod.emulator.server import EmulatorServer

VERSION = "20.1.2"


@dataclass
class Answer:
    status: int
    body: Any
    headers: Any
    text: str


class AviClient:
    def __init__(self, base_url: str, *, tenant: str | None = "admin", version: str | None = VERSION) -> None:
        self.base_url = base_url
        self.tenant = tenant
        self.version = version
        # The emulator listens on an IP address; aiohttp's jar refuses cookies of IP hosts unless unsafe.
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def close(self) -> None:
        await self.http.close()

    async def login(
        self, username: str = "admin", password: str = "admin", *, as_json: bool = False
    ) -> Answer:
        if as_json:
            return await self._send("POST", "/login", json={"username": username, "password": password})
        return await self._send("POST", "/login", data={"username": username, "password": password})

    def csrf(self) -> str | None:
        for cookie in self.http.cookie_jar:
            if cookie.key == "csrftoken":
                return cookie.value
        return None

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.version is not None:
            headers["X-Avi-Version"] = self.version
        if self.tenant is not None:
            headers["X-Avi-Tenant"] = self.tenant
        token = self.csrf()
        if token is not None:
            headers["X-CSRFToken"] = token
        headers.update(extra or {})
        return headers

    async def _send(self, method: str, path: str, **kwargs: Any) -> Answer:
        async with self.http.request(method, self.base_url + path, **kwargs) as response:
            text = await response.text()
            try:
                body = await response.json(content_type=None) if text else None
            except ValueError:
                body = text
            return Answer(response.status, body, response.headers, text)

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Answer:
        if body is not None:
            kwargs["json"] = body
        return await self._send(method, path, headers=self.headers(headers), **kwargs)

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return await self.call("POST", path, body, **kwargs)

    async def put(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return await self.call("PUT", path, body, **kwargs)

    async def patch(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return await self.call("PATCH", path, body, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Answer:
        return await self.call("DELETE", path, **kwargs)

    async def by_name(self, obj_type: str, name: str) -> dict[str, Any]:
        answer = await self.get(f"/api/{obj_type}?name={name}")
        assert answer.status == 200 and answer.body["count"] == 1, answer.text
        return answer.body["results"][0]  # type: ignore[no-any-return]


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer() as emu:
        yield emu


@pytest.fixture
async def strict_emulator() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(strict=True) as emu:
        yield emu


@pytest.fixture
async def anonymous(emulator: EmulatorServer) -> AsyncIterator[AviClient]:
    """A client that has not logged in."""
    client = AviClient(emulator.url)
    yield client
    await client.close()


@pytest.fixture
async def avi(emulator: EmulatorServer) -> AsyncIterator[AviClient]:
    """A client logged in as admin/admin in tenant admin."""
    client = AviClient(emulator.url)
    answer = await client.login()
    assert answer.status == 200, answer.text
    yield client
    await client.close()


@pytest.fixture
async def side_door(emulator: EmulatorServer) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain session for /_emulator/* (no login)."""
    async with aiohttp.ClientSession(base_url=emulator.url) as http:
        yield http


@pytest.fixture
async def new_client(emulator: EmulatorServer) -> AsyncIterator[Any]:
    """`await new_client(tenant=..., version=..., login=True)`: more clients of the same emulator."""
    made: list[AviClient] = []

    async def make(
        *,
        tenant: str | None = "admin",
        version: str | None = VERSION,
        login: bool = True,
        url: str | None = None,
    ) -> AviClient:
        client = AviClient(url or emulator.url, tenant=tenant, version=version)
        made.append(client)
        if login:
            answer = await client.login()
            assert answer.status == 200, answer.text
        return client

    yield make
    for client in made:
        await client.close()
