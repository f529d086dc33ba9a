"""Names with `+ & # % ? /` and spaces, in references and in queries: each resolves to itself.

A pool is named after its Ingress path, so a path decides what characters a name holds. The
controller reads a by-name reference (`/api/pool/?name=...`) as a query string: unencoded, `+`
reads as a space, `&` and `#` end the name and `%2B` names another object. These tests write
such references into a pool group on the strict emulator and look the pools up by name, the way
akod's client and the test harness do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from akod.avi import AviClient, Pacer
from akod.devenv.controller import Controller
from akod.emulator.server import EmulatorServer
from akod.model.objects import name_ref

from .conftest import FAST_BACKOFF

# Each name next to one it would be mistaken for if it were not encoded.
TRICKY = ["a+b", "a b", "a&b=c", "a", "a#b", "a%2Bb", "a%00b", "a?b", "a/b", "x_foo(.*)$[a-z]+-default-bad",
          "x_foo(.*)$[a-z] -default-bad", "x_api_v[0-9]+_.*-default-bad", "100%", "sp ace+plus%25"]


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(fixtures="seed", strict=True) as server:
        yield server


@pytest.fixture
async def client(emu: EmulatorServer) -> AsyncIterator[AviClient]:
    async with AviClient(base_url=emu.url, username="admin", password="admin", pacer=Pacer(rate=0, burst=1, workers=8),
                         timeout_s=5.0, **FAST_BACKOFF) as opened:
        yield opened


async def _pools(client: AviClient) -> dict[str, str]:
    return {name: (await client.post("pool", {"name": name}))["uuid"] for name in TRICKY}


def _uuid_of(ref: str) -> str:
    return ref.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def test_name_ref_keeps_akos_names_as_they_are() -> None:
    assert name_ref("pool", "S1-AZ1--foo.com_foo-default-ing") == "/api/pool/?name=S1-AZ1--foo.com_foo-default-ing"
    assert name_ref("cloud", "Default-Cloud") == "/api/cloud/?name=Default-Cloud"


def test_name_ref_encodes_every_character_a_query_string_would_read_otherwise() -> None:
    assert name_ref("pool", "a+b c&d#e%f?g/h") == "/api/pool/?name=a%2Bb%20c%26d%23e%25f%3Fg%2Fh"


async def test_a_reference_by_name_resolves_to_the_object_of_that_exact_name(client: AviClient) -> None:
    uuids = await _pools(client)
    for i, name in enumerate(TRICKY):
        group = await client.post("poolgroup", {"name": f"pg-{i}", "members": [
            {"pool_ref": name_ref("pool", name), "ratio": 100}]})
        assert _uuid_of(group["members"][0]["pool_ref"]) == uuids[name], name


async def test_get_by_name_finds_each_name_and_only_it(client: AviClient) -> None:
    uuids = await _pools(client)
    for name in TRICKY:
        found = await client.get_by_name("pool", name)
        assert found is not None and found["uuid"] == uuids[name], name


async def test_a_query_with_such_a_name_follows_its_next_page(client: AviClient) -> None:
    await _pools(client)
    found = await client.list("pool", params={"name.contains": "a+b", "page_size": "1"})
    assert [p["name"] for p in found] == ["a+b"]
    paged = await client.list("pool", params={"name.contains": "-default-bad", "page_size": "1"})
    assert sorted(p["name"] for p in paged) == sorted(n for n in TRICKY if n.endswith("-default-bad"))


async def test_the_test_harness_looks_names_up_encoded_too(emu: EmulatorServer, client: AviClient) -> None:
    uuids = await _pools(client)
    controller = Controller(emu.url)
    for name in TRICKY:
        found: dict[str, Any] | None = await controller.maybe("pool", name)
        assert found is not None and found["uuid"] == uuids[name], name
    assert sorted(await controller.names("pool", contains="-default-bad")) == sorted(
        n for n in TRICKY if n.endswith("-default-bad"))


@pytest.mark.parametrize(("ref", "name"), [
    ("/api/pool/?name=a+b", "a b"),  # a query string: '+' is a space
    ("/api/pool/?name=a%2Bb", "a+b"),
    ("/api/pool?name=a&b=c", "a"),  # '&' ends the value
    ("/api/pool/?name=a#b", "a"),  # '#' starts the fragment
    ("/api/pool/?name=a%23b%26c", "a#b&c"),
    ("https://host/api/pool/?name=x%2Fy%3Fz", "x/y?z"),
])
def test_the_emulator_reads_a_by_name_reference_as_a_query_string(ref: str, name: str) -> None:
    from akod.emulator.refs import parse_ref

    parsed = parse_ref(ref)
    assert parsed is not None and parsed.by_name and parsed.name == name
