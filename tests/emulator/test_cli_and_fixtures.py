"""`serve` in a real process, TLS, the shipped fixtures and the compiled schema."""

from __future__ import annotations

from tests.paths import SHARED

import asyncio
import hashlib
import json
import os
import signal
import ssl
import sys
from importlib import resources
from pathlib import Path

import aiohttp
import pytest

from akod.emulator.fixtures import FixtureError
from akod.emulator.schema import load_schema
from akod.emulator.server import EmulatorServer
from akod.emulator.specgen import PROJECT_SPECS, compile_specs, spec_files

SPECS = Path(os.environ.get("AKOD_AVI_API_SPEC", SHARED / "avi-api-spec"))
SERVE = (
    "import sys; from akod.emulator.cli import serve; "
    "sys.exit(serve(host='127.0.0.1', port=0, fixtures={fixtures!r}, username='admin', "
    "password='pw', tls={tls}, strict=False, faults={faults!r}, version='20.1.2'))"
)


async def start_serve(
    *, fixtures: str = "seed", tls: bool = False, faults: str | None = None
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVE.format(fixtures=fixtures, tls=tls, faults=faults),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_serve_prints_its_url_first_and_exits_0_on_sigterm() -> None:
    process = await start_serve(faults='{"latency_ms": {"read": 1}}')
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode().strip()  # type: ignore[union-attr]
        assert line.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{line}/login", data={"username": "admin", "password": "pw"}) as rsp:
                assert rsp.status == 200
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), timeout=20) == 0


async def test_serve_with_an_unreadable_fixture_file_exits_2_saying_why(tmp_path: Path) -> None:
    process = await start_serve(fixtures=str(tmp_path / "missing.json"))
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)

    assert process.returncode == 2
    assert b"cannot read fixtures" in stderr


async def test_tls_serves_https_with_a_certificate_clients_can_trust() -> None:
    async with EmulatorServer(tls=True) as emu:
        assert emu.url.startswith("https://") and emu.ca_file is not None
        context = ssl.create_default_context(cafile=str(emu.ca_file))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
            async with http.post(f"{emu.url}/login", data={"username": "admin", "password": "admin"}) as rsp:
                assert rsp.status == 200
                assert all("Secure" in c for c in rsp.headers.getall("Set-Cookie"))


async def test_the_seed_fixtures_hold_the_seed_scenario() -> None:
    async with EmulatorServer() as emu:
        state = emu.state
        expected = {
            "cloud": ["Default-Cloud"],
            "vrfcontext": ["global", "management", "VRF_AZ1", "VRF_AZ2"],
            "network": ["AVI_FRONTEND_3025", "AVI_FRONTEND_3026"],
            "serviceenginegroup": ["Default-Group", "S1-AZ1-SE-Group", "S1-AZ2-SE-Group"],
            "applicationprofile": [
                "System-HTTP",
                "System-Secure-HTTP",
                "System-L4-Application",
                "System-SSL-Application",
            ],
            "networkprofile": ["System-TCP-Proxy", "System-TCP-Fast-Path", "System-UDP-Fast-Path"],
            "healthmonitor": ["System-TCP", "System-HTTP", "System-HTTPS", "System-UDP", "System-Ping"],
            "sslprofile": ["System-Standard", "System-Standard-PFS"],
            "tenant": ["admin"],
        }
        for obj_type, names in expected.items():
            assert [o.name for o in state.store.of_type(obj_type)] == names, obj_type
        cloud = state.find("cloud", "Default-Cloud")
        assert cloud is not None and cloud.body["vtype"] == "CLOUD_VCENTER"
        network = state.objects("network")[0]
        assert network["vrf_context_ref"].endswith("#VRF_AZ1")
        assert (
            network["configured_subnets"][0]["static_ip_ranges"][0]["range"]["begin"]["addr"] == "10.10.25.10"
        )
        assert state.find("tenant", "admin").uuid == "admin"  # type: ignore[union-attr]


async def test_a_fixture_file_can_describe_another_environment(tmp_path: Path) -> None:
    path = tmp_path / "lab.json"
    path.write_text(
        json.dumps(
            {
                "objects": {
                    "cloud": [{"name": "Lab", "vtype": "CLOUD_NONE"}],
                    "vrfcontext": [{"name": "global", "cloud_ref": "/api/cloud/?name=Lab"}],
                    "tenant": [{"name": "team-a"}],
                }
            }
        )
    )

    async with EmulatorServer(fixtures=str(path)) as emu:
        assert emu.state.find("cloud", "Lab") is not None
        assert emu.state.tenant_uuid("team-a") is not None
        assert emu.state.singleton("systemconfiguration") is not None  # singletons always exist


def test_a_fixture_with_an_unknown_field_is_refused_naming_the_object(tmp_path: Path) -> None:
    path = tmp_path / "typo.json"
    path.write_text(json.dumps({"objects": {"cloud": [{"name": "C", "vtype": "CLOUD_NONE", "vtpye": 1}]}}))

    with pytest.raises(FixtureError, match="cloud 'C' rejected: Unknown field 'vtpye'"):
        EmulatorServer(fixtures=str(path))


def shipped_schema() -> dict[str, object]:
    text = resources.files("akod.emulator").joinpath("fixtures/schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


@pytest.mark.skipif(not SPECS.is_dir(), reason=f"no Swagger specs in {SPECS}")
def test_the_shipped_schema_is_compiled_from_the_current_specs() -> None:
    shipped = shipped_schema()

    assert not {p.name for p in spec_files(SPECS)} & {p.name for p in spec_files(PROJECT_SPECS)}
    assert shipped == compile_specs(SPECS, PROJECT_SPECS), "recompile: python -m akod.emulator.specgen"


def test_the_projects_own_specs_are_compiled_into_the_shipped_schema() -> None:
    """Checked without `shared/` too: every type and definition of `akod/emulator/specs` is in it."""
    shipped = shipped_schema()
    own = compile_specs(PROJECT_SPECS)

    assert own["types"], PROJECT_SPECS
    for key in ("types", "models", "definitions"):
        section = shipped[key]
        assert isinstance(section, dict)
        stale = [name for name, value in own[key].items() if section.get(name) != value]
        assert not stale, f"{key} {stale}: recompile: python -m akod.emulator.specgen"


def test_the_projects_specs_are_byte_identical_to_their_sources_md() -> None:
    """SOURCES.md names each file with its size and sha256; a file edited by hand is caught."""
    listed = {}
    for line in (PROJECT_SPECS / "SOURCES.md").read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[2].isdigit():
            listed[cells[0]] = (int(cells[2]), cells[3])
    present = {p.name for p in PROJECT_SPECS.iterdir() if p.name != "SOURCES.md"}

    assert set(listed) == present
    for name, (size, digest) in listed.items():
        data = (PROJECT_SPECS / name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, digest), name


def test_a_spec_file_in_both_folders_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\.json is in both .*specs and .*specs"):
        spec_files(PROJECT_SPECS, PROJECT_SPECS)


def test_every_object_type_of_the_brief_has_a_definition() -> None:
    schema = load_schema()
    for obj_type in (
        "virtualservice",
        "vsvip",
        "pool",
        "poolgroup",
        "httppolicyset",
        "l4policyset",
        "sslkeyandcertificate",
        "vrfcontext",
        "healthmonitor",
        "cloud",
        "network",
        "networkprofile",
        "applicationprofile",
        "serviceenginegroup",
        "tenant",
        "stringgroup",
        "vsdatascriptset",
        "ipamdnsproviderprofile",
        "systemconfiguration",
        "controllerproperties",
        "cluster",
        # the types AKO's CRDs refer to (akod/emulator/specs)
        "wafpolicy",
        "wafprofile",
        "sslprofile",
        "pkiprofile",
        "applicationpersistenceprofile",
        "analyticsprofile",
        "errorpageprofile",
        "errorpagebody",
        "icapprofile",
        "networksecuritypolicy",
        "securitypolicy",
    ):
        assert schema.definition_of(obj_type) is not None, obj_type
