"""Everything one emulator instance remembers, in one object the handlers receive explicitly.

No module-level state: a test can run several emulators in one process (the replay test starts
one per recording), and `POST /_emulator/reset` rebuilds the objects from the fixtures without
restarting the server. `EmulatorServer.state` exposes this object for in-process inspection
(`emu.state.find("vsvip", "my-vip")`, `emu.state.objects("pool")`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from akod.emulator.auth import Accounts, Sessions
from akod.emulator.crud import Writer
from akod.emulator.faults import Faults
from akod.emulator.fixtures import load_into, read_fixtures
from akod.emulator.ipam import Ipam
from akod.emulator.refs import ADMIN
from akod.emulator.render import Renderer
from akod.emulator.requestlog import RequestLog
from akod.emulator.schema import Schema, load_schema
from akod.emulator.store import Store, StoredObject

DEFAULT_VERSION = "20.1.2"
MINUTE = 60.0
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Settings:
    fixtures: str
    username: str
    password: str
    strict: bool
    tls: bool
    version: str


class EmulatorState:
    def __init__(self, settings: Settings, *, faults: dict[str, Any] | None = None,
                 schema: Schema | None = None) -> None:
        self.settings = settings
        self.schema = schema or load_schema()
        self._fixture_data = read_fixtures(settings.fixtures)
        self.sessions = Sessions()
        self.accounts = Accounts({settings.username: settings.password})
        self.faults = Faults()
        self.log = RequestLog()
        self.store = Store(self.schema)
        self.ipam = Ipam()
        self.reset(faults=faults)

    def reset(self, *, faults: dict[str, Any] | None = None) -> None:
        """Back to the fixtures: objects, addresses, request log, faults and the password."""
        self.store = Store(self.schema)
        self.ipam = Ipam()
        writer = Writer(store=self.store, ipam=self.ipam, strict=True, tenant=ADMIN, keep_readonly=True)
        load_into(writer, self._fixture_data, source=self.settings.fixtures)
        self.accounts = Accounts({self.settings.username: self.settings.password})
        self.log.clear()
        if faults:
            self.faults.set(faults)
        else:
            self.faults.clear()

    def writer(self, *, tenant: str | None) -> Writer:
        return Writer(store=self.store, ipam=self.ipam, strict=self.settings.strict, tenant=tenant)

    # -- session lifetimes, read live from the singletons as the controller does -------------

    def idle_timeout_s(self) -> float:
        props = self.singleton("controllerproperties")
        minutes = props.body.get("api_idle_timeout", 15) if props else 15
        return float(minutes) * MINUTE if minutes else float("inf")

    def absolute_timeout_s(self) -> float:
        config = self.singleton("systemconfiguration")
        portal = (config.body.get("portal_configuration") or {}) if config else {}
        hours = float(portal.get("api_force_timeout", 24)) * HOUR
        ttl = self.faults.current.session_ttl_s
        return min(hours, ttl) if ttl is not None else hours

    def singleton(self, obj_type: str) -> StoredObject | None:
        return next(self.store.of_type(obj_type), None)

    # -- in-process inspection -------------------------------------------------------------

    def find(self, obj_type: str, name: str, *, tenant: str = ADMIN) -> StoredObject | None:
        tenant_uuid = self.tenant_uuid(tenant) or tenant
        return self.store.find(obj_type, name, tenant=tenant_uuid)

    def tenant_uuid(self, name: str) -> str | None:
        obj = self.store.find("tenant", name)
        return obj.uuid if obj is not None else None

    def objects(self, obj_type: str, *, host: str = "emulator") -> list[dict[str, Any]]:
        """Every object of a type as a GET would return it (refs spelled with `host`)."""
        renderer = Renderer(store=self.store, host=host, include_name=True)
        return [renderer.plain(renderer.object(o)) for o in self.store.of_type(obj_type)]


STATE: web.AppKey[EmulatorState] = web.AppKey("akod_emulator_state", EmulatorState)
