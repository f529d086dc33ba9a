"""What the `OwnedSync.apply` tests share: the strict emulator, a real client and a real store, wired.

A `Rig` is one controller (the emulator over real HTTP, seed fixtures, strict validation), one
`AviClient` logged in to it with fast retries, one `Store` on a SQLite file, and the `OwnedSync`
over them. The tests observe what a user would: the controller's objects (read through the
emulator's side door, which is never logged or faulted), the writes it received (its request log),
and the journal and applied rows of the store. Objects "made by hand" go through the controller's
REST API with Basic auth, as an operator's script would.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from akod.avi import AviClient, Pacer
from akod.emulator.faults import Faults, Verdict
from akod.emulator.server import EmulatorServer
from akod.model.l4 import L4Result
from akod.model.objects import AviObject, for_api_version
from akod.store import Store
from akod.sync.owned import OwnedSync
from tests.unit.test_l4_seed import endpoint, ep_port, eps, port, service, translate

API_VERSION = "20.1.2"
KEY = "l4:default/kuard"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
BASIC = {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode(),
         "X-Avi-Version": API_VERSION, "X-Avi-Tenant": "admin"}


class ArrivalFaults(Faults):
    """The emulator's fault injection, noting each request when it arrives.

    The request log records a request once it is answered; a test that must act while a slow
    write is still being handled needs to know that the controller has it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.arrived: list[tuple[str, str]] = []

    def decide(self, *, method: str, path: str, client: str, body: str | None = None) -> Verdict:
        self.arrived.append((method, path))
        return super().decide(method=method, path=path, client=client, body=body)


def kuard(*ports: int, members: tuple[str, ...] = ("10.34.1.6", "10.34.2.7"),
          annotations: dict[str, str] | None = None) -> L4Result:
    """The L4 translation of Service default/kuard with `ports` (one pool per port)."""
    ports = ports or (8080,)
    svc = service("kuard", ports=[port(p, name=f"p{p}") for p in ports], annotations=annotations)
    slices = eps("kuard", ([ep_port(p, name=f"p{p}") for p in ports], [endpoint(ip) for ip in members]))
    result = translate([svc], {"kuard": [slices]})
    assert result.problems == () and result.objects
    return result


def one(objects: tuple[AviObject, ...] | list[AviObject], obj_type: str) -> AviObject:
    (found,) = [o for o in objects if o.obj_type == obj_type]
    return found


@dataclass
class Rig:
    emu: EmulatorServer
    arrivals: ArrivalFaults
    store: Store
    client: AviClient
    owned: OwnedSync
    http: aiohttp.ClientSession

    async def set_faults(self, body: dict[str, Any]) -> None:
        async with self.http.post(f"{self.emu.url}/_emulator/faults", json=body) as rsp:
            assert rsp.status == 200, await rsp.text()

    async def log_mark(self) -> int:
        return len(await self._requests())

    async def writes(self, *, since: int = 0) -> list[tuple[str, str]]:
        """(method, object type) of every write to /api/ since `since` (a `log_mark()`), in order."""
        return [(e["method"], e["path"].split("/")[2]) for e in (await self._requests())[since:]
                if e["method"] in WRITES and e["path"].startswith("/api/")]

    async def requests(self, *, since: int = 0) -> list[tuple[str, str, int]]:
        return [(e["method"], e["path"], e["status"]) for e in (await self._requests())[since:]]

    async def _requests(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.emu.url}/_emulator/requests") as rsp:
            entries: list[dict[str, Any]] = await rsp.json()
        return entries

    async def on_controller(self, obj_type: str, name: str | None = None) -> list[dict[str, Any]]:
        """The controller's objects of `obj_type` (named `name`, when given)."""
        async with self.http.get(f"{self.emu.url}/_emulator/objects", params={"type": obj_type}) as rsp:
            results: list[dict[str, Any]] = (await rsp.json())["results"]
        return [o for o in results if name is None or o["name"] == name]

    async def names_on_controller(self, *types: str) -> dict[str, list[str]]:
        return {t: sorted(o["name"] for o in await self.on_controller(t)) for t in types}

    async def journal(self) -> list[tuple[str, str, str]]:
        """(op, object type, state) of every journal row, oldest first."""
        rows = sorted(await self.store.journal(limit=1000), key=lambda r: r.id)
        return [(r.op, r.obj_type, r.state) for r in rows]

    async def create_by_hand(self, obj: AviObject) -> dict[str, Any]:
        body = for_api_version(obj.payload(), (20, 1, 2))
        async with self.http.post(f"{self.emu.url}/api/{obj.obj_type}", json=body, headers=BASIC) as rsp:
            assert rsp.status == 201, await rsp.text()
            created: dict[str, Any] = await rsp.json()
        return created

    async def delete_by_hand(self, obj_type: str, name: str) -> None:
        (found,) = await self.on_controller(obj_type, name)
        async with self.http.delete(f"{self.emu.url}/api/{obj_type}/{found['uuid']}", headers=BASIC) as rsp:
            assert rsp.status == 204, await rsp.text()


@asynccontextmanager
async def open_rig(tmp_path: Path, **client_options: Any) -> AsyncIterator[Rig]:
    """A logged-in rig; `client_options` override the client's (timeout, backoff, attempts)."""
    options: dict[str, Any] = {"timeout_s": 5.0, "backoff_base_s": 0.001, "backoff_cap_s": 0.01, "max_attempts": 3,
                               **client_options}
    arrivals = ArrivalFaults()
    async with EmulatorServer(fixtures="seed", strict=True) as emu, aiohttp.ClientSession() as http:
        emu.state.faults = arrivals
        store = await Store.open(path=tmp_path / "state.db")
        try:
            async with AviClient(base_url=emu.url, username="admin", password="admin", tenant="admin",
                                 version=API_VERSION, pacer=Pacer(rate=0, burst=1, workers=8), **options) as client:
                await client.login()  # before any fault: the tests fault writes, and a login is one
                yield Rig(emu=emu, arrivals=arrivals, store=store, client=client,
                          owned=OwnedSync(store=store, client=client), http=http)
        finally:
            await store.close()
