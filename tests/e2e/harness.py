"""akod as the end-to-end tests run it: the dev harness of `akod.devenv` with the tests' choices.

The harness itself (processes, config, polling) lives in `akod.devenv` and is shared with the
benchmarks and `akod demo`. What is the tests' own is here: the daemon paces calls at 50/s with a
10 s call timeout and logs at debug level, and `write_config(extra=..., routes_disabled=...)`
rewrites the config from those choices (anything not passed goes back to its default). The
test-facing names (`DaemonProcess`, `eventually`, `akod_cli`, `REPO`) stay importable from here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from akod.devenv import processes
from akod.devenv.config import SeedOptions
from akod.devenv.polling import eventually
from akod.devenv.processes import akod_cli

__all__ = ["REPO", "TEST_OPTIONS", "DaemonProcess", "akod_cli", "eventually"]

REPO = Path(__file__).resolve().parents[2]
TEST_OPTIONS = SeedOptions(api_rate=50.0, api_timeout_s=10, log_level="debug", comment="written by tests/e2e")


class DaemonProcess(processes.DaemonProcess):
    """The daemon for cluster `cluster` with the tests' pace and log level."""

    def __init__(self, *, workdir: Path, kubeconfig: Path, controller_url: str, password: str = "admin",
                 cluster: str = "S1-AZ1", extra_config: str = "", routes_disabled: bool = False) -> None:
        super().__init__(workdir=workdir, kubeconfig=kubeconfig, controller_url=controller_url, password=password,
                         options=replace(TEST_OPTIONS, cluster=cluster, extra=extra_config,
                                         routes_disabled=routes_disabled))

    def write_config(self, *, extra: str = "", routes_disabled: bool = False, controller_url: str | None = None) -> None:
        self.configure(options=replace(self.options, extra=extra, routes_disabled=routes_disabled),
                       controller_url=controller_url)
