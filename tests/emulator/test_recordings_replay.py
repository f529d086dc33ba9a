"""Fidelity: every recorded exchange with a real Avi controller, replayed against the emulator.

The recordings (`shared/avi-recordings` beside the repository, VCR cassettes of the alb-sdk tests against
controllers 20.1.1 and 20.1.5) are replayed file by file, in order, each file against a fresh
emulator loaded with `replay_fixtures.json` (the objects the recorded controller already had).
Each interaction is its own test id, so a failure names the exchange.

How a recorded request is sent:
- method, path, query and body as recorded, with every recorded uuid replaced by the emulator's
  uuid for the same object (learnt by walking recorded and live answers side by side: `uuid`
  fields and the uuids inside refs);
- headers `X-Avi-Version`, `X-Avi-Tenant`, `X-Avi-Tenant-UUID` (uuid mapped), `Slug`,
  `Authorization`, `Referer`, `Content-Type`, `timeout`;
- cookies and CSRF as a client's jar would hold them: the recorded session (the last
  `avi-sessionid` in the recorded Cookie header, which is the one the SDK set) maps to the live
  session of the login that created it; a session created outside the file (by `setUpModule` or an
  earlier test of the same SDK run) gets a live login first, which is not compared. A recorded
  CSRF token that is a real token is sent as the live session's token; anything else (the
  deliberately invalid `invalid`) is sent as recorded, cookie included. Non-session cookie values
  (`None`, from Basic-auth answers) are sent as recorded.
- the emulator's password is the one the file logs in with first (or its Basic credentials), its
  version the highest `X-Avi-Version` the file sends.

What is compared, and the differences accepted (each with its reason):
- status code: equal, always.
- the names of the cookies set: equal (values are session ids and dates).
- `AVI_API_VERSION`: equal (`16_4_2` when no version was asked, as the real controller says).
- `Location`: present when recorded, in the same ref format.
- plain-text bodies (the CSRF 401) and empty bodies (204, useraccount PUT): equal.
- JSON bodies: the key sets, recursively for objects and lists of objects, with
  - keys missing from the emulator's answer accepted only if listed in `SERVER_INTERNAL`
    (runtime and internal fields of the real controller that no client writes or should read:
    redis ports, TLS ticket keys, placement runtime, ...) or `NOT_MODELLED` (derived data the
    emulator does not compute; empty today: a key added there must say why);
  - keys the emulator adds accepted at the top level of an object when the field is in the
    30.2.1 spec the emulator validates with and has a default there (a default of the spec or of
    `server_defaults.json`: the recorded 20.1.x controller leaves some of them out, e.g. on the
    objects it shipped with), or when listed in `OBJECT_HISTORY`. Fields newer than the API
    version asked for are not among them: the emulator, like the controller, leaves them out of
    its answers (a request without `X-Avi-Version` gets the 16.4.2 shape, as recorded);
  - values are not compared (timestamps, uuids, session ids differ by nature), except:
    counts of collections, `name`, and ref formats: every recorded ref
    `https://<host>/api/<type>/<uuid>[#name]` must come back as a ref to the same type, with a
    `#name` suffix exactly when recorded (and the same name), on the emulator's host;
    uuids must have the recorded shape (`<type>-<uuid4>`, or the same literal for `admin`,
    `default`, a `Slug`); `_last_modified` must be a microsecond timestamp.
"""

from __future__ import annotations

from tests.paths import SHARED

import base64
import json
import os
import re
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from akod.emulator.schema import MISSING, load_schema
from akod.emulator.server import EmulatorServer

RECORDINGS = Path(os.environ.get("AKOD_AVI_RECORDINGS", SHARED / "avi-recordings"))
FIXTURES = Path(__file__).with_name("replay_fixtures.json")

#: Keys of real controller answers the emulator does not return: server-internal state.
SERVER_INTERNAL: dict[str, frozenset[str]] = {
    "virtualservice": frozenset(
        {
            "redis_db",
            "redis_port",  # the controller's internal key-value store placement
            "tls_ticket_key",  # generated TLS session ticket keys (secrets of the data plane)
            "version",  # internal object revision
            "vip_runtime",  # SE placement runtime
            "marked_for_delete",
            "self_se_election",  # internal state flags
        }
    ),
    "pool": frozenset({"server_count"}),  # computed by 16.4-shaped answers only
    "cloud": frozenset({"apic_mode"}),  # removed from the API after 20.1 (not in the spec)
}
#: Keys the emulator does not compute (documented gaps, not internal state).
NOT_MODELLED: dict[str, frozenset[str]] = {}

#: Top-level keys the emulator returns that the recorded controller's objects did not have.
OBJECT_HISTORY: dict[str, frozenset[str]] = {
    # The built-in `admin` tenant of a real controller is never written after installation and
    # has no `_last_modified`; the emulator creates it from the fixtures like any tenant.
    "tenant": frozenset({"_last_modified"}),
}

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_TYPED_UUID = re.compile(rf"\b[a-z]+-{_UUID}\b")
_REF = re.compile(r"^https://(?P<host>[^/]+)/api/(?P<type>[a-z\-]+)/(?P<uuid>[^#/?]+)(?:#(?P<name>.*))?$")
_REAL_TOKEN = re.compile(r"^[A-Za-z0-9]{32}$")
_FORWARDED = (
    "X-Avi-Version",
    "X-Avi-Tenant",
    "X-Avi-Tenant-UUID",
    "Slug",
    "Authorization",
    "Referer",
    "Content-Type",
    "timeout",
    "X-CSRFToken",
)


def _files() -> list[Path]:
    return sorted(RECORDINGS.glob("*.json")) if RECORDINGS.is_dir() else []


def _interactions(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["interactions"]  # type: ignore[no-any-return]


def _header(headers: dict[str, list[str]], name: str) -> str | None:
    for key, values in headers.items():
        if key.lower() == name.lower() and values:
            return values[-1]
    return None


def _params() -> list[Any]:
    params = []
    for path in _files():
        for index, item in enumerate(_interactions(path)):
            request = item["request"]
            where = urlsplit(request["uri"])
            target = where.path + (f"?{where.query}" if where.query else "")
            params.append(
                pytest.param(path.name, index, id=f"{path.stem}[{index:02d}] {request['method']} {target}")
            )
    return params


# -- replaying one file ---------------------------------------------------------------------


@dataclass
class Live:
    sid: str
    csrf: str


@dataclass
class Replay:
    """One file replayed: the problems found per interaction."""

    problems: list[list[str]] = field(default_factory=list)


def _setup(interactions: list[dict[str, Any]]) -> tuple[str, str]:
    """(password, version) the recorded controller had for this file."""
    password = None
    versions = ["20.1.1"]
    for item in interactions:
        request = item["request"]
        if password is None and request["uri"].endswith("/login") and request.get("body"):
            password = parse_qs(request["body"]).get("password", [None])[0]
        basic = _header(request["headers"], "Authorization")
        if password is None and basic and basic.startswith("Basic "):
            password = base64.b64decode(basic[6:]).decode().partition(":")[2]
        version = _header(request["headers"], "X-Avi-Version")
        if version:
            versions.append(version)
    return password or "password", max(versions, key=lambda v: tuple(map(int, v.split("."))))


def _recorded_cookies(headers: dict[str, list[str]]) -> dict[str, str]:
    """name -> the last value in the recorded Cookie header (the one the SDK itself set)."""
    found: dict[str, str] = {}
    for header in headers.get("Cookie", []):
        for part in header.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep:
                found[name] = value
    return found


def _set_cookies(values: list[str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for value in values:
        jar.load(value)
    return {name: morsel.value for name, morsel in jar.items()}


class Replayer:
    def __init__(self, emu: EmulatorServer, http: aiohttp.ClientSession, password: str) -> None:
        self.emu = emu
        self.http = http
        self.password = password
        self.uuids: dict[str, str] = {}
        self.sessions: dict[str, Live] = {}  # recorded session id -> live session
        self.tokens: dict[str, Live] = {}  # recorded csrf token -> live session
        self.host = urlsplit(emu.url).netloc

    def map_text(self, text: str) -> str:
        return _TYPED_UUID.sub(lambda m: self.uuids.get(m.group(0), m.group(0)), text)

    async def login(self) -> Live:
        async with self.http.post(
            f"{self.emu.url}/login", data={"username": "admin", "password": self.password}
        ) as rsp:
            assert rsp.status == 200, f"out-of-band login failed: {rsp.status}"
            cookies = _set_cookies(rsp.headers.getall("Set-Cookie", []))
        return Live(sid=cookies["avi-sessionid"], csrf=cookies["csrftoken"])

    async def send(self, recorded: dict[str, Any]) -> tuple[int, dict[str, list[str]], str, Live | None]:
        headers: dict[str, str] = {}
        for name in _FORWARDED:
            value = _header(recorded["headers"], name)
            if value is not None:
                headers[name] = self.map_text(value)
        cookies = _recorded_cookies(recorded["headers"])
        live: Live | None = None
        jar: dict[str, str] = {}
        recorded_sid = cookies.get("avi-sessionid")
        if recorded_sid is not None:
            if _REAL_TOKEN.match(recorded_sid.upper()) and recorded_sid != "None":
                live = self.sessions.get(recorded_sid)
                if live is None:
                    live = self.sessions[recorded_sid] = await self.login()
                jar["avi-sessionid"] = jar["sessionid"] = live.sid
            else:
                jar["avi-sessionid"] = jar["sessionid"] = recorded_sid
        for name in ("csrftoken",):
            if name in cookies:
                real = live is not None and (_REAL_TOKEN.match(cookies[name]) or cookies[name] in self.tokens)
                jar[name] = live.csrf if real and live is not None else cookies[name]
        token = headers.get("X-CSRFToken")
        if token is not None and live is not None and (_REAL_TOKEN.match(token) or token in self.tokens):
            headers["X-CSRFToken"] = live.csrf
        if jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        where = urlsplit(recorded["uri"])
        target = self.map_text(where.path + (f"?{where.query}" if where.query else ""))
        body = recorded.get("body")
        data = self.map_text(body).encode() if isinstance(body, str) else None
        async with self.http.request(
            recorded["method"], f"{self.emu.url}{target}", headers=headers, data=data
        ) as rsp:
            text = await rsp.text()
            answer_headers: dict[str, list[str]] = {}
            for key, value in rsp.headers.items():
                answer_headers.setdefault(key, []).append(value)
            return rsp.status, answer_headers, text, live

    def learn_login(self, recorded: dict[str, Any], answer_headers: dict[str, list[str]]) -> None:
        rec = _set_cookies(_header_all(recorded["headers"], "Set-Cookie"))
        got = _set_cookies(answer_headers.get("Set-Cookie", []))
        if "avi-sessionid" in rec and "avi-sessionid" in got:
            live = Live(sid=got["avi-sessionid"], csrf=got["csrftoken"])
            self.sessions[rec["avi-sessionid"]] = live
            self.tokens[rec["csrftoken"]] = live

    def learn_uuids(self, recorded: Any, live: Any, key: str = "") -> None:
        if isinstance(recorded, dict) and isinstance(live, dict):
            for k in recorded.keys() & live.keys():
                self.learn_uuids(recorded[k], live[k], k)
        elif isinstance(recorded, list) and isinstance(live, list):
            for rec_item, live_item in _pair(recorded, live):
                self.learn_uuids(rec_item, live_item, key)
        elif isinstance(recorded, str) and isinstance(live, str):
            if key == "uuid":
                self.uuids.setdefault(recorded, live)
                return
            rec_ref, live_ref = _REF.match(recorded), _REF.match(live)
            if rec_ref and live_ref and rec_ref["type"] == live_ref["type"]:
                self.uuids.setdefault(rec_ref["uuid"], live_ref["uuid"])


def _header_all(headers: dict[str, list[str]], name: str) -> list[str]:
    return [v for k, values in headers.items() if k.lower() == name.lower() for v in values]


def _pair(recorded: list[Any], live: list[Any]) -> list[tuple[Any, Any]]:
    """List items side by side: by `name` for objects that have one, else by position."""
    if all(isinstance(i, dict) and "name" in i for i in recorded + live):
        by_name = {i["name"]: i for i in live}
        return [(i, by_name[i["name"]]) for i in recorded if i["name"] in by_name]
    return list(zip(recorded, live, strict=False))


# -- comparing one answer ----------------------------------------------------------------------


class Comparison:
    def __init__(self, *, host: str, obj_type: str) -> None:
        self.host = host
        self.obj_type = obj_type
        self.problems: list[str] = []
        self.schema = load_schema()

    def accepted_extra(self, key: str) -> bool:
        definition = self.schema.definition_of(self.obj_type)
        if definition is not None:
            spec_field = definition.fields.get(key)
            if spec_field is not None and spec_field.default is not MISSING:
                return True
        return key in OBJECT_HISTORY.get(self.obj_type, frozenset())

    def accepted_missing(self, key: str) -> bool:
        return key in SERVER_INTERNAL.get(self.obj_type, frozenset()) or key in NOT_MODELLED.get(
            self.obj_type, frozenset()
        )

    def body(self, recorded: Any, live: Any) -> None:
        if isinstance(recorded, dict) and set(recorded) >= {"count", "results"}:
            if not isinstance(live, dict):
                self.problems.append(f"expected a collection, got {type(live).__name__}")
                return
            self.keys("", recorded, live, top=False)
            if recorded["count"] != live.get("count"):
                self.problems.append(f"count: recorded {recorded['count']}, emulator {live.get('count')}")
            for rec_item, live_item in _pair(recorded["results"], live.get("results", [])):
                self.object("results[]", rec_item, live_item)
            if len(recorded["results"]) != len(live.get("results", [])):
                self.problems.append("results: different number of objects")
        else:
            self.object("", recorded, live)

    def object(self, path: str, recorded: Any, live: Any) -> None:
        if not isinstance(live, dict):
            self.problems.append(f"{path or 'body'}: expected an object, got {live!r:.80}")
            return
        self.keys(path, recorded, live, top=True)
        self.values(path, recorded, live)

    def keys(self, path: str, recorded: dict[str, Any], live: dict[str, Any], *, top: bool) -> None:
        missing = sorted(k for k in recorded.keys() - live.keys() if not (top and self.accepted_missing(k)))
        extra = sorted(k for k in live.keys() - recorded.keys() if not (top and self.accepted_extra(k)))
        if missing:
            self.problems.append(f"{path or 'body'}: keys missing from the emulator: {missing}")
        if extra and top:
            self.problems.append(f"{path or 'body'}: keys the real controller did not return: {extra}")

    def values(self, path: str, recorded: Any, live: Any, key: str = "") -> None:
        if key == "[]":
            where = f"{path}[]"
        else:
            where = f"{path}.{key}" if path and key else (key or path or "body")
        if isinstance(recorded, dict) and isinstance(live, dict):
            if path or key:  # nested objects: recorded keys must be there
                nested_missing = sorted(recorded.keys() - live.keys())
                if nested_missing and key:
                    self.problems.append(f"{where}: keys missing from the emulator: {nested_missing}")
            for k in recorded.keys() & live.keys():
                self.values(where if key else path, recorded[k], live[k], k)
        elif isinstance(recorded, list) and isinstance(live, list):
            for rec_item, live_item in _pair(recorded, live):
                self.values(where, rec_item, live_item, "[]")
        elif isinstance(recorded, str):
            self.string(where, key, recorded, live)

    def string(self, where: str, key: str, recorded: str, live: Any) -> None:
        rec_ref = _REF.match(recorded)
        if rec_ref:
            live_ref = _REF.match(live) if isinstance(live, str) else None
            if live_ref is None:
                self.problems.append(f"{where}: recorded a ref, emulator answered {live!r:.100}")
                return
            if live_ref["host"] != self.host:
                self.problems.append(f"{where}: ref host {live_ref['host']}, expected {self.host}")
            if live_ref["type"] != rec_ref["type"]:
                self.problems.append(f"{where}: ref to {live_ref['type']}, recorded {rec_ref['type']}")
            if live_ref["name"] != rec_ref["name"]:
                self.problems.append(
                    f"{where}: ref name suffix {live_ref['name']!r}, recorded {rec_ref['name']!r}"
                )
            self.uuid_shape(where, rec_ref["type"], rec_ref["uuid"], live_ref["uuid"])
        elif key == "uuid" and isinstance(live, str):
            self.uuid_shape(where, recorded.split("-")[0], recorded, live)
        elif key == "_last_modified":
            if not (isinstance(live, str) and re.fullmatch(r"\d{16}", live)):
                self.problems.append(f"{where}: not a microsecond timestamp: {live!r}")
        elif key == "name" and live != recorded:
            self.problems.append(f"{where}: name {live!r}, recorded {recorded!r}")

    def uuid_shape(self, where: str, obj_type: str, recorded: str, live: str) -> None:
        if re.fullmatch(rf"[a-z]+-{_UUID}", recorded):
            if not re.fullmatch(rf"{obj_type}-{_UUID4}", live):
                self.problems.append(f"{where}: uuid {live!r} is not {obj_type}-<uuid4>")
        elif live != recorded:
            self.problems.append(f"{where}: uuid {live!r}, recorded {recorded!r}")


def _object_type(uri: str) -> str:
    parts = [p for p in urlsplit(uri).path.split("/") if p]
    return parts[1] if len(parts) > 1 and parts[0] == "api" else parts[0] if parts else ""


def compare(
    item: dict[str, Any], status: int, headers: dict[str, list[str]], text: str, host: str
) -> list[str]:
    recorded_request, recorded = item["request"], item["response"]
    check = Comparison(host=host, obj_type=_object_type(recorded_request["uri"]))
    if status != recorded["status"]["code"]:
        check.problems.append(f"status {status}, recorded {recorded['status']['code']} ({text[:200]})")
        return check.problems
    rec_cookies = set(_set_cookies(_header_all(recorded["headers"], "Set-Cookie")))
    live_cookies = set(_set_cookies(_header_all(headers, "Set-Cookie")))
    if rec_cookies != live_cookies:
        check.problems.append(f"cookies set {sorted(live_cookies)}, recorded {sorted(rec_cookies)}")
    rec_version = _header(recorded["headers"], "AVI_API_VERSION")
    if rec_version is not None and _header(headers, "AVI_API_VERSION") != rec_version:
        check.problems.append(
            f"AVI_API_VERSION {_header(headers, 'AVI_API_VERSION')}, recorded {rec_version}"
        )
    rec_location = _header(recorded["headers"], "Location")
    if rec_location is not None:
        check.string("Location", "Location", rec_location, _header(headers, "Location"))
    recorded_text = recorded["body"]["string"] or ""
    try:
        recorded_json = json.loads(recorded_text) if recorded_text else None
    except json.JSONDecodeError:
        recorded_json = None
    if recorded_json is None:
        if text != recorded_text:
            check.problems.append(f"body {text[:200]!r}, recorded {recorded_text[:200]!r}")
        return check.problems
    try:
        live_json = json.loads(text)
    except json.JSONDecodeError:
        check.problems.append(f"body is not JSON: {text[:200]!r}")
        return check.problems
    check.body(recorded_json, live_json)
    return check.problems


async def replay(path: Path) -> Replay:
    interactions = _interactions(path)
    password, version = _setup(interactions)
    outcome = Replay()
    async with EmulatorServer(fixtures=str(FIXTURES), password=password, version=version) as emu:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            player = Replayer(emu, http, password)
            for item in interactions:
                status, headers, text, _ = await player.send(item["request"])
                if urlsplit(item["request"]["uri"]).path == "/login" and status == 200:
                    player.learn_login(item["response"], headers)
                problems = compare(item, status, headers, text, player.host)
                try:
                    recorded_json = json.loads(item["response"]["body"]["string"] or "null")
                    player.learn_uuids(recorded_json, json.loads(text or "null"))
                except json.JSONDecodeError:
                    pass
                outcome.problems.append(problems)
    return outcome


_REPLAYED: dict[str, Replay] = {}


@pytest.mark.skipif(not _files(), reason=f"no recordings in {RECORDINGS}")
@pytest.mark.parametrize(("name", "index"), _params())
async def test_recorded_exchange_is_reproduced(name: str, index: int) -> None:
    if name not in _REPLAYED:
        _REPLAYED[name] = await replay(RECORDINGS / name)
    problems = _REPLAYED[name].problems[index]
    assert not problems, "\n".join(problems)


def test_every_recording_file_is_replayed() -> None:
    """The parametrisation above covers every file of the folder (a new cassette is not skipped)."""
    covered = {p.values[0] for p in _params()}
    assert covered == {p.name for p in _files()}
    assert covered or not RECORDINGS.is_dir()
