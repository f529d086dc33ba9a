"""The shared dev harness (akod.devenv) does what the e2e tests, the benchmarks and the demo rely on.

Polling fails with what it waited for, the seed config is one akod accepts with the chosen
values, and the emulator's REST client reads and writes what a user would see. No apiserver.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from akod.config.loading import parse_settings
from akod.devenv.config import SeedOptions, seed_config
from akod.devenv.controller import Controller
from akod.devenv.errors import HarnessError, ProcessExited, TimedOut
from akod.devenv.polling import eventually
from akod.devenv.processes import DaemonProcess, EmulatorProcess
from akod.devenv.seed import HAND_MADE_ROUTE
from akod.emulator.server import EmulatorServer


async def test_eventually_retries_failed_checks_and_returns_the_first_truthy_answer() -> None:
    answers: list[object] = [None, AssertionError("not yet"), "", "done"]

    async def probe() -> str | None:
        answer = answers.pop(0)
        if isinstance(answer, AssertionError):
            raise answer
        return str(answer) if answer is not None else None

    assert await eventually(probe, timeout=5, interval=0.001) == "done"


async def test_eventually_names_what_it_waited_for_and_the_last_answer() -> None:
    async def probe() -> bool:
        raise HarnessError("no virtualservice yet")

    with pytest.raises(TimedOut, match="waiting for the first VS; last: HarnessError..no virtualservice yet"):
        await eventually(probe, timeout=0.05, interval=0.01, what="the first VS")


async def test_eventually_gives_up_at_once_when_the_process_is_gone() -> None:
    calls = 0

    async def probe() -> bool:
        nonlocal calls
        calls += 1
        raise ProcessExited("akod exited with 2")

    with pytest.raises(ProcessExited):
        await eventually(probe, timeout=30, interval=0.01)
    assert calls == 1


def test_the_seed_config_is_valid_with_the_chosen_values(tmp_path: Path) -> None:
    options = SeedOptions(cluster="S1-AZ2", vip_cidr="10.10.0.0/16", routes_disabled=True, api_rate=0,
                          api_burst=30, api_workers=4, api_timeout_s=10, log_level="debug",
                          extra='[l7]\nshard_vs_size = "SMALL"\n')
    text = seed_config(kubeconfig=tmp_path / "kubeconfig", controller_url="http://127.0.0.1:9443",
                       password_file=tmp_path / "password", state=tmp_path / "state.db", listen="127.0.0.1:8181",
                       options=options)
    settings = parse_settings(text)
    assert settings.cluster.name == "S1-AZ2" and settings.controller.se_group == "S1-AZ2-SE-Group"
    assert str(settings.network.vip_networks[0].cidr) == "10.10.0.0/16"
    assert settings.routes.disable_static_route_sync is True
    assert (settings.api.rate, settings.api.burst, settings.api.workers, settings.api.timeout_s) == (0, 30, 4, 10)
    assert settings.log.level == "debug" and settings.l7.shard_vs_size == "SMALL"


def test_the_default_seed_options_are_akods_defaults(tmp_path: Path) -> None:
    text = seed_config(kubeconfig=tmp_path / "k", controller_url="http://127.0.0.1:1", password_file=tmp_path / "p",
                       state=tmp_path / "s.db", listen="127.0.0.1:8181")
    written = parse_settings(text)
    bare = parse_settings(f'[cluster]\nname = "S1-AZ1"\nkubeconfig = "{tmp_path / "k"}"\n'
                          f'[controller]\nhost = "http://127.0.0.1:1"\nse_group = "S1-AZ1-SE-Group"\n')
    assert written.api == bare.api and written.log == bare.log and written.routes == bare.routes
    assert (written.controller.username, written.controller.tenant, written.controller.cloud) == (
        bare.controller.username, bare.controller.tenant, bare.controller.cloud)


def test_a_daemon_process_writes_its_files_before_it_starts(tmp_path: Path) -> None:
    daemon = DaemonProcess(workdir=tmp_path / "akod", kubeconfig=tmp_path / "k", controller_url="http://127.0.0.1:1",
                           password="s3cret")
    assert daemon.password_file.read_text() == "s3cret\n"
    assert daemon.password_file.stat().st_mode & 0o777 == 0o600
    assert f'listen = "127.0.0.1:{daemon.port}"' in daemon.config.read_text()
    assert "s3cret" not in daemon.config.read_text()
    with pytest.raises(HarnessError, match="never started"):
        daemon.assert_running()


async def test_the_controller_client_reads_and_writes_the_emulator() -> None:
    async with EmulatorServer(fixtures="seed", strict=True) as emu:
        ctl = Controller(emu.url)
        assert (await ctl.one("network", "AVI_FRONTEND_3025"))["name"] == "AVI_FRONTEND_3025"
        assert await ctl.maybe("network", "NO_SUCH_NETWORK") is None
        with pytest.raises(HarnessError, match="expected one network named 'NO_SUCH_NETWORK'"):
            await ctl.one("network", "NO_SUCH_NETWORK")
        assert await ctl.names("vrfcontext", contains="VRF_AZ") == ["VRF_AZ1", "VRF_AZ2"]
        await ctl.add_route(HAND_MADE_ROUTE)
        assert [r["route_id"] for r in await ctl.vrf_routes()] == ["hand-made-1"]
        assert [(w["method"], w["path"].split("/")[2]) for w in await ctl.writes()] == [("PATCH", "vrfcontext")]
        assert (await ctl.stats())["objects"]["vrfcontext"] == await ctl.count("vrfcontext") > 0
        code, answer = await ctl.route(vip="10.10.25.99", port=80, host="nothing.example")
        assert code == 404 and answer.get("reason")
        await ctl.reset()
        assert await ctl.vrf_routes() == [] and await ctl.writes() == []


async def test_the_emulator_process_prints_its_url_and_answers_until_closed() -> None:
    emu = EmulatorProcess(strict=False)
    try:
        ctl = Controller(emu.url, keep_session=True)
        assert await ctl.count("vrfcontext") >= 4
        await ctl.aclose()
    finally:
        emu.close()
    assert emu.proc.poll() is not None
