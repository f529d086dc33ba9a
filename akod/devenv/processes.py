"""akod and its emulator as real processes, started and stopped the way systemd would.

What the daemon does at start, on SIGTERM, SIGHUP or kill -9 is only proven by running it as a
process: ``python -m akod run --config ...`` with a config of the seed scenario
(:mod:`akod.devenv.config`), its own work directory (password file, state database, log) and a
status endpoint on a free port. :class:`DaemonProcess` offers what a test, a benchmark or the
demo needs around it: start with an environment (optionally under a profiler), stop with SIGTERM
and read the exit code (blocking, or without blocking the event loop when the emulator runs in
it), signal, kill -9, and waits for ready / in sync that poll the status endpoint.

:class:`EmulatorProcess` runs ``akod emulator`` in its own process, as a controller is: a test may
block (a synchronous ``stop()``) without stalling it, and a benchmark can measure its CPU apart.
Subprocesses run the akod that is imported here: ``python -m akod`` started from
:data:`SOURCE_ROOT`, the directory holding this ``akod`` package, or found through PYTHONPATH.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

import akod
from akod.devenv.config import SeedOptions, seed_config, write_password_file
from akod.devenv.errors import HarnessError, ProcessExited, TimedOut
from akod.devenv.httpjson import JsonHttp
from akod.devenv.polling import eventually
from akod.devenv.ports import free_port

T = TypeVar("T")
SOURCE_ROOT = Path(akod.__file__).resolve().parents[1]
LOG_TAIL_CHARS = 4000


class DaemonProcess:
    """`python -m akod run` in `workdir` against the cluster of `kubeconfig` and the controller at `controller_url`."""

    def __init__(self, *, workdir: Path, kubeconfig: Path, controller_url: str, password: str = "admin",
                 options: SeedOptions = SeedOptions(), status_timeout_s: float = 5.0,
                 keep_session: bool = False) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password_file = write_password_file(workdir / "password", password)
        self.state = workdir / "state.db"
        self.config = workdir / "akod.toml"
        self.log_path = workdir / "akod.log"
        self.kubeconfig = kubeconfig
        self.controller_url = controller_url
        self.options = options
        self.configure()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.started_at = 0.0  # time.monotonic() of the last start
        self._wrapped = False  # started under a wrapper (a profiler): the daemon is its child
        self._http = JsonHttp(self.url, timeout_s=status_timeout_s, keep_session=keep_session)

    def configure(self, *, options: SeedOptions | None = None, controller_url: str | None = None) -> None:
        """(Re)write the config file; a running daemon reads it on SIGHUP."""
        if options is not None:
            self.options = options
        if controller_url is not None:
            self.controller_url = controller_url
        self.config.write_text(seed_config(
            kubeconfig=self.kubeconfig, controller_url=self.controller_url, password_file=self.password_file,
            state=self.state, listen=f"127.0.0.1:{self.port}", options=self.options))

    # -- the process ----------------------------------------------------------------------------

    def start(self, *, env: Mapping[str, str] | None = None, prefix: Sequence[str] = (),
              module_args: Sequence[str] = ("-m", "akod")) -> None:
        """Start the daemon; `prefix` wraps the command (py-spy), `module_args` replaces `-m akod`."""
        if self.proc is not None and self.proc.poll() is None:
            raise HarnessError("akod is already running")
        self.starts += 1
        argv = [*prefix, sys.executable, *module_args, "run", "--config", str(self.config)]
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start {self.starts}: {' '.join(argv)} =====\n".encode())
            log.flush()
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        self._wrapped = bool(prefix)

    def _running(self) -> subprocess.Popen[bytes]:
        if self.proc is None:
            raise HarnessError("akod was never started")
        return self.proc

    def assert_running(self) -> None:
        """Fail with ProcessExited (and the log's tail) if the daemon is gone."""
        code = self._running().poll()
        if code is not None:
            raise ProcessExited(f"akod exited with {code}; log tail:\n{self.log_tail()}")

    def daemon_pid(self) -> int:
        """The pid of the Python process running akod (a child of the wrapper, when wrapped)."""
        pid = self._running().pid
        for _ in range(3 if self._wrapped else 0):
            if _is_akod(pid):
                return pid
            children = _children(pid)
            if not children:
                break
            pid = children[0]
        return pid

    def peak_rss_mb(self) -> float:
        """VmHWM of the daemon: its peak resident set size since it started (NaN if gone)."""
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.daemon_pid()}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def signal(self, sig: int) -> None:
        """Send `sig` to the daemon (not to a wrapper around it)."""
        os.kill(self.daemon_pid(), sig)

    def kill9(self) -> None:
        """kill -9 and reap it."""
        proc = self._running()
        proc.kill()
        proc.wait(timeout=10)

    def stop(self, *, timeout: float = 10.0) -> int:
        """SIGTERM and wait, blocking; the exit code. Killed, and an error, if it takes over `timeout` s."""
        proc = self._sigterm()
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self._too_slow(timeout)

    async def astop(self, *, timeout: float = 10.0) -> int:
        """As stop(), polling without blocking the event loop (the emulator may run in it)."""
        await self._http.aclose()
        proc = self._sigterm()

        async def exited() -> bool:
            return proc.poll() is not None

        try:
            await eventually(exited, timeout=timeout, interval=0.05, what="akod to exit after SIGTERM")
        except TimedOut:
            return self._too_slow(timeout)
        return int(proc.returncode)

    def _sigterm(self) -> subprocess.Popen[bytes]:
        proc = self._running()
        if proc.poll() is None:
            os.kill(self.daemon_pid(), signal.SIGTERM)
        return proc

    def _too_slow(self, timeout: float) -> int:
        proc = self._running()
        proc.kill()
        proc.wait()
        raise HarnessError(f"akod did not stop within {timeout:g}s of SIGTERM; log tail:\n{self.log_tail()}")

    def close(self) -> None:
        """kill -9 if still running (a test's teardown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    async def aclose(self) -> None:
        """close(), and the kept HTTP session."""
        self.close()
        await self._http.aclose()

    # -- what it wrote --------------------------------------------------------------------------

    def log(self) -> str:
        """The whole log of every start."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        return self.log()[-chars:]

    def log_of_last_start(self) -> str:
        return self.log().rsplit(f"===== start {self.starts}:", 1)[-1]

    def state_db_dump(self) -> str:
        """Everything in the state database as SQL text (read-only; fine while the daemon runs)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.state}?mode=ro", uri=True)) as db:
            return "\n".join(db.iterdump())

    # -- its status endpoint --------------------------------------------------------------------

    async def get(self, path: str) -> tuple[int, Any]:
        """GET `path` of the status endpoint: (status, JSON or text)."""
        return await self._http.request("GET", path)

    async def status(self) -> dict[str, Any]:
        """`/status`; fails unless it answers 200."""
        code, body = await self.get("/status")
        if code != 200:
            raise HarnessError(f"/status answered {code}: {body}")
        result: dict[str, Any] = body
        return result

    async def in_sync_status(self) -> dict[str, Any] | None:
        """`/status` if the daemon is ready and in sync, else None (also while it does not listen yet).

        `/readyz` is asked first: it is cheap, where `/status` reads the state database."""
        self.assert_running()
        try:
            code, _ = await self.get("/readyz")
            if code != 200:
                return None
            status = await self.status()
        except (aiohttp.ClientError, OSError, HarnessError):
            return None
        return status if status["ready"] and status["sync"]["in_sync"] else None

    async def wait_ready(self, *, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until `/readyz` answers 200; then `/status`."""
        async def ready() -> bool:
            self.assert_running()
            try:
                code, _ = await self.get("/readyz")
            except (aiohttp.ClientError, OSError):
                return False
            return code == 200

        await self.wait_for(ready, timeout=timeout, interval=0.1, what="the daemon to be ready")
        return await self.status()

    async def wait_in_sync(self, *, timeout: float = 30.0, interval: float = 0.1) -> dict[str, Any]:
        """Wait until ready and in sync; its `/status` then."""
        return await self.wait_for(self.in_sync_status, timeout=timeout, interval=interval,
                                   what="the daemon to be ready and in sync")

    async def wait_for(self, probe: Callable[[], Awaitable[T | None]], *, timeout: float, interval: float,
                       what: str) -> T:
        """`eventually(probe, ...)`, with the daemon's log tail in the error when it times out."""
        try:
            return await eventually(probe, timeout=timeout, interval=interval, what=what)
        except TimedOut as exc:
            raise TimedOut(f"{exc}\nakod log tail:\n{self.log_tail()}") from None


class EmulatorProcess:
    """`akod emulator --port 0 --fixtures F [--strict]` in its own process; its URL from the first stdout line."""

    def __init__(self, *, password: str = "admin", fixtures: str = "seed", strict: bool = True) -> None:
        argv = [sys.executable, "-m", "akod", "emulator", "--port", "0", "--fixtures", fixtures]
        self.proc = subprocess.Popen([*argv, *(["--strict"] if strict else [])], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, cwd=SOURCE_ROOT,
                                     env={**os.environ, "AKOD_EMULATOR_PASSWORD": password})
        assert self.proc.stdout is not None  # stdout=PIPE
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.close()
            raise ProcessExited(f"the emulator did not print its URL (got {self.url!r})")

    def close(self) -> None:
        """SIGTERM, and kill -9 after 10 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def akod_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m akod ARGS...` run to its end: exit code, stdout and stderr as text."""
    return subprocess.run([sys.executable, "-m", "akod", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=SOURCE_ROOT)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _is_akod(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(argv) and Path(argv[0].decode(errors="replace")).name.startswith("python") and b"run" in argv
