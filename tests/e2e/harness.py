"""akod as the end-to-end tests run it: the dev harness of `akod.devenv` with the tests' choices.

The harness itself (processes, config, polling) lives in `akod.devenv` and is shared with the
benchmarks and `akod demo`. What is the tests' own is here: their config choices (calls paced at
50/s, a 10 s call timeout, debug logs), `write_config(extra=..., routes_disabled=...)`, which
rewrites the config from those choices (anything not passed goes back to its default), and two
steps several tests take: kill -9 mid-way through the writes, and the writes of a restart. The
test-facing names (`DaemonProcess`, `eventually`, `akod_cli`, `REPO`) stay importable from here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from akod.devenv import processes
from akod.devenv.config import SeedOptions
from akod.devenv.controller import Controller
from akod.devenv.polling import eventually
from akod.devenv.processes import akod_cli

__all__ = ["REPO", "TEST_OPTIONS", "DaemonProcess", "akod_cli", "eventually", "kill9_while_writing",
           "writes_of_a_restart"]

REPO = Path(__file__).resolve().parents[2]
TEST_OPTIONS = SeedOptions(api_rate=50.0, api_timeout_s=10, log_level="debug", comment="written by tests/e2e")


class DaemonProcess(processes.DaemonProcess):
    """The daemon for cluster `cluster` with the tests' pace and log level (or exactly `options`)."""

    def __init__(self, *, workdir: Path, kubeconfig: Path, controller_url: str, password: str = "admin",
                 cluster: str = "S1-AZ1", extra_config: str = "", routes_disabled: bool = False,
                 options: SeedOptions | None = None) -> None:
        chosen = options or replace(TEST_OPTIONS, cluster=cluster, extra=extra_config, routes_disabled=routes_disabled)
        super().__init__(workdir=workdir, kubeconfig=kubeconfig, controller_url=controller_url, password=password,
                         options=chosen)

    def write_config(self, *, extra: str = "", routes_disabled: bool = False,
                     controller_url: str | None = None) -> None:
        self.configure(options=replace(self.options, extra=extra, routes_disabled=routes_disabled),
                       controller_url=controller_url)


async def kill9_while_writing(akod: DaemonProcess, controller: Controller, *, obj_type: str, sync_timeout: float,
                              at_least: int = 10) -> None:
    """Start akod, kill -9 it once the controller holds `at_least` `obj_type`s, restart it, wait in sync.

    The caller slows the controller's writes first (a latency fault) so the kill lands mid-way;
    the latency is removed before the restart."""
    akod.start()

    async def some_written() -> bool:
        return len(await controller.names(obj_type)) >= at_least

    await eventually(some_written, timeout=60, interval=0.05, what=f"the first {obj_type}s")
    akod.kill9()
    await controller.faults({"latency_ms": {"write": 0, "read": 0}})
    akod.start()
    await akod.wait_in_sync(timeout=sync_timeout)


async def writes_of_a_restart(akod: DaemonProcess, controller: Controller) -> list[dict[str, Any]]:
    """Stop akod (it must exit 0), start it again on the same state, wait in sync: the writes it made."""
    assert akod.stop() == 0
    before = len(await controller.writes())
    akod.start()
    await akod.wait_in_sync()
    return (await controller.writes())[before:]
