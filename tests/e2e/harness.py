"""Running akod the way systemd does, for end-to-end tests: a real process with a real config.

`DaemonProcess` writes a config for the seed scenario (cluster S1-AZ1, VIP network
AVI_FRONTEND_3025, SE group S1-AZ1-SE-Group) pointing at the session's kube-apiserver and a test's
emulator, starts `python -m akod run`, and offers what the tests need: wait for readiness, read
`/status`, send signals, kill -9, read the log. Waits poll with a deadline; nothing sleeps for a
fixed time hoping for an outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(probe: Callable[[], Awaitable[T]], *, timeout: float = 20.0, interval: float = 0.1,
                     what: str = "condition") -> T:
    """Poll `probe` until it returns a truthy value; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = await probe()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        await asyncio.sleep(interval)


def seed_config(*, kubeconfig: Path, controller_url: str, password_file: Path, state: Path, listen: str,
                extra: str = "", cluster: str = "S1-AZ1", routes_disabled: bool = False,
                api_rate: float = 50.0) -> str:
    return f"""
[cluster]
name = "{cluster}"
kubeconfig = "{kubeconfig}"

[controller]
host = "{controller_url}"
version = "20.1.2"
username = "admin"
password_file = "{password_file}"
tenant = "admin"
cloud = "Default-Cloud"
se_group = "{cluster}-SE-Group"

[network]
vip_networks = [{{ name = "AVI_FRONTEND_3025", cidr = "10.10.25.0/24" }}]
default_domain = "avi.iberia.local"

[routes]
disable_static_route_sync = {"true" if routes_disabled else "false"}

[api]
rate = {api_rate}
burst = 40
workers = 8
timeout_s = 10

[state]
path = "{state}"

[status]
listen = "{listen}"

[log]
level = "debug"
{extra}
"""


class DaemonProcess:
    def __init__(self, *, workdir: Path, kubeconfig: Path, controller_url: str, password: str = "admin",
                 cluster: str = "S1-AZ1", extra_config: str = "", routes_disabled: bool = False) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password_file = workdir / "password"
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)
        self.state = workdir / "state.db"
        self.config = workdir / "akod.toml"
        self.log_path = workdir / "akod.log"
        self._kubeconfig = kubeconfig
        self._controller_url = controller_url
        self._cluster = cluster
        self.write_config(extra=extra_config, routes_disabled=routes_disabled)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def write_config(self, *, extra: str = "", routes_disabled: bool = False, controller_url: str | None = None) -> None:
        if controller_url is not None:
            self._controller_url = controller_url
        self.config.write_text(seed_config(
            kubeconfig=self._kubeconfig, controller_url=self._controller_url, password_file=self.password_file,
            state=self.state, listen=f"127.0.0.1:{self.port}", extra=extra, cluster=self._cluster,
            routes_disabled=routes_disabled))

    def start(self, *, env: dict[str, str] | None = None) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start {self.starts} =====\n".encode())
        log.flush()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "akod", "run", "--config", str(self.config)],
                                     stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=self.workdir)
        log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def state_db_dump(self) -> str:
        """Everything in the state database as SQL text (read-only; fine while the daemon runs)."""
        import sqlite3

        with contextlib.closing(sqlite3.connect(f"file:{self.state}?mode=ro", uri=True)) as db:
            return "\n".join(db.iterdump())

    def log_of_last_start(self) -> str:
        return self.log().rsplit(f"===== start {self.starts} =====", 1)[-1]

    async def get(self, path: str) -> tuple[int, Any]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            async with http.get(self.url + path) as resp:
                text = await resp.text()
                try:
                    return resp.status, json.loads(text)
                except ValueError:
                    return resp.status, text

    async def status(self) -> dict[str, Any]:
        code, body = await self.get("/status")
        assert code == 200, body
        return body

    async def wait_ready(self, *, timeout: float = 30.0) -> dict[str, Any]:
        async def ready() -> Any:
            self.assert_running()
            try:
                code, _ = await self.get("/readyz")
            except (aiohttp.ClientError, OSError):
                return False
            return code == 200

        await eventually(ready, timeout=timeout, what="the daemon to be ready")
        return await self.status()

    async def wait_in_sync(self, *, timeout: float = 30.0) -> dict[str, Any]:
        async def in_sync() -> Any:
            self.assert_running()
            try:
                status = await self.status()
            except (aiohttp.ClientError, OSError):
                return False
            return status if status["ready"] and status["sync"]["in_sync"] else False

        return await eventually(in_sync, timeout=timeout, what="the daemon to be in sync")

    def assert_running(self) -> None:
        assert self.proc is not None
        code = self.proc.poll()
        if code is not None:
            raise AssertionError(f"akod exited with {code}; log:\n{self.log()[-4000:]}")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self, *, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit code (fails the test if it takes longer than `timeout`)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"akod did not stop within {timeout}s of SIGTERM; log:\n{self.log()[-4000:]}")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def akod_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "akod", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=REPO)
