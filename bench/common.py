"""What the benchmarks share: the emulator and akod as processes, Kubernetes fixtures, polling.

Everything runs as it does in production or in the end-to-end tests: a real kube-apiserver
(`akod.devenv.apiserver.KubeApiServer`), the Avi controller emulator in its own process
(`python -m akod emulator`, not strict, no faults) and `python -m akod run --config ...`. Nothing
here sleeps for a fixed time hoping for an outcome: waits poll against a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
NOT_OBJECTS = ("login", "logout")  # session calls: a POST, but no write to the configuration

SEED_NODES = [
    ("site1-az1-k8s-master01", "10.10.30.11", "10.34.0.0/24"),
    ("site1-az1-k8s-worker01", "10.10.30.12", "10.34.1.0/24"),
    ("site1-az1-k8s-worker02", "10.10.30.13", "10.34.2.0/24"),
]
VIP_NETWORK = "AVI_FRONTEND_3025"
# The seed network has 241 VIP addresses (10.10.25.10-250): too few for 1,000 Services.
VIP_CIDR = "10.10.0.0/16"
VIP_RANGE = ("10.10.1.0", "10.10.250.250")
AVI_HEADERS = {"X-Avi-Version": "20.1.2", "X-Avi-Tenant": "admin"}


class BenchError(RuntimeError):
    """Something the benchmark needs did not happen; the message says what."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def poll(probe: Callable[[], Awaitable[T]], *, timeout: float, interval: float = 0.1,
               what: str = "condition") -> T:
    """Call `probe` until it returns a truthy value; raise BenchError with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}; last: {str(last)[:500]}")
        await asyncio.sleep(interval)


def basic_auth(user: str = "admin", password: str = "admin") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def writes_of(stats: dict[str, Any]) -> int:
    """Write calls to the controller API in an `/_emulator/stats` answer (login/logout are not writes)."""
    return sum(n for t, methods in stats.get("by_type", {}).items() if t not in NOT_OBJECTS
               for m, n in methods.items() if m in WRITE_METHODS)


def reads_of(stats: dict[str, Any]) -> int:
    return sum(n for t, methods in stats.get("by_type", {}).items() if t not in NOT_OBJECTS
               for m, n in methods.items() if m == "GET")


def writes_by_type(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """{"POST vsvip": 1000, ...}: the write calls made between two `/_emulator/stats` answers."""
    out: dict[str, int] = {}
    for t, methods in after.get("by_type", {}).items():
        if t in NOT_OBJECTS:
            continue
        for m, n in methods.items():
            delta = n - before.get("by_type", {}).get(t, {}).get(m, 0)
            if m in WRITE_METHODS and delta:
                out[f"{m} {t}"] = delta
    return dict(sorted(out.items()))


# -- the Avi controller emulator ----------------------------------------------------------------


class Emulator:
    """`python -m akod emulator --port 0 --fixtures seed` (not strict, no faults) in its own process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "akod", "emulator", "--port", "0", "--fixtures", "seed"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
            env={**os.environ, "AKOD_EMULATOR_PASSWORD": "admin"})
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.close()
            raise BenchError(f"the emulator did not print its URL (got {self.url!r})")
        self._http: aiohttp.ClientSession | None = None

    async def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self._http

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        http = await self.http()
        headers = {"Authorization": basic_auth(), **AVI_HEADERS} if path.startswith("/api/") else {}
        async with http.request(method, self.url + path, json=body, headers=headers) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    async def stats(self) -> dict[str, Any]:
        code, body = await self.call("GET", "/_emulator/stats")
        if code != 200:
            raise BenchError(f"/_emulator/stats answered {code}: {body}")
        return body  # type: ignore[no-any-return]

    async def count(self, obj_type: str) -> int:
        return int((await self.stats())["objects"].get(obj_type, 0))

    async def reset(self) -> None:
        """Back to the seed fixtures (objects, addresses, request log), then the bigger VIP network."""
        code, body = await self.call("POST", "/_emulator/reset")
        if code != 200:
            raise BenchError(f"/_emulator/reset answered {code}: {body}")
        await self.grow_vip_network()

    async def grow_vip_network(self) -> None:
        code, body = await self.call("GET", f"/api/network?name={VIP_NETWORK}")
        if code != 200 or body.get("count") != 1:
            raise BenchError(f"network {VIP_NETWORK} not found: {code} {body}")
        net = body["results"][0]
        cidr = ipaddress.ip_network(VIP_CIDR)
        net["configured_subnets"] = [{
            "prefix": {"ip_addr": {"addr": str(cidr.network_address), "type": "V4"}, "mask": cidr.prefixlen},
            "static_ip_ranges": [{"type": "STATIC_IPS_FOR_VIP", "range": {
                "begin": {"addr": VIP_RANGE[0], "type": "V4"}, "end": {"addr": VIP_RANGE[1], "type": "V4"}}}],
        }]
        code, body = await self.call("PUT", f"/api/network/{net['uuid']}", net)
        if code != 200:
            raise BenchError(f"PUT network {VIP_NETWORK} answered {code}: {body}")
        # Not counted: the caller reads stats after this, and reset() cleared the log before it.

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- Kubernetes ---------------------------------------------------------------------------------


def endpoint_ips(index: int, count: int) -> list[str]:
    """Distinct pod IPs per Service: 10.40.0.1, 10.40.0.2, ... (250 per /24)."""
    out = []
    for j in range(count):
        n = index * count + j
        out.append(f"10.40.{n // 250}.{n % 250 + 1}")
    return out


class Kube:
    """The few Kubernetes writes the benchmark makes, with bounded concurrency."""

    def __init__(self, api: Any, *, concurrency: int = 20) -> None:
        from kubernetes_asyncio import client

        self.core = client.CoreV1Api(api)
        self._sem = asyncio.Semaphore(concurrency)

    async def seed_nodes(self) -> None:
        from kubernetes_asyncio.client.exceptions import ApiException

        for name, ip, cidr in SEED_NODES:
            try:
                await self.core.create_node({"metadata": {"name": name},
                                             "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
            except ApiException as exc:
                if exc.status != 409:
                    raise
            await self.core.patch_node_status(name, {"status": {"addresses": [
                {"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}})

    async def namespace(self, name: str) -> None:
        await self.core.create_namespace({"metadata": {"name": name}})

    async def create_services(self, ns: str, count: int, *, ports: Sequence[int], endpoints: int) -> None:
        async def one(i: int) -> None:
            name = f"svc-{i:05d}"
            async with self._sem:
                await self.core.create_namespaced_service(ns, {
                    "metadata": {"name": name},
                    "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Cluster",
                             "selector": {"app": name},
                             "ports": [{"name": f"p{p}", "port": p, "protocol": "TCP", "targetPort": p}
                                       for p in ports]}})
                await self.core.create_namespaced_endpoints(ns, {
                    "metadata": {"name": name},
                    "subsets": [{"addresses": [{"ip": ip} for ip in endpoint_ips(i, endpoints)],
                                 "ports": [{"name": f"p{p}", "port": p, "protocol": "TCP"} for p in ports]}]})

        await asyncio.gather(*(one(i) for i in range(count)))

    async def clear_statuses(self, ns: str) -> int:
        """Undo what akod wrote back (EXTERNAL-IP and the FQDN map annotation): a cold start again."""
        services = (await self.core.list_namespaced_service(ns)).items
        cleared = 0

        async def one(svc: Any) -> None:
            nonlocal cleared
            name = svc.metadata.name
            async with self._sem:
                if svc.status.load_balancer and svc.status.load_balancer.ingress:
                    await self.core.patch_namespaced_service_status(
                        name, ns, {"status": {"loadBalancer": {"ingress": []}}})
                    cleared += 1
                if "ako.vmware.com/host-fqdn-vs-uuid-map" in (svc.metadata.annotations or {}):
                    await self.core.patch_namespaced_service(
                        name, ns, {"metadata": {"annotations": {"ako.vmware.com/host-fqdn-vs-uuid-map": None}}})

        await asyncio.gather(*(one(s) for s in services))
        return cleared

    async def services_with_ip(self, ns: str) -> int:
        services = (await self.core.list_namespaced_service(ns)).items
        return sum(1 for s in services if s.status.load_balancer and s.status.load_balancer.ingress)


# -- akod ---------------------------------------------------------------------------------------


def akod_config(*, kubeconfig: Path, controller_url: str, password_file: Path, state: Path, port: int,
                workers: int, burst: int, level: str) -> str:
    return f"""# written by bench/l4.py
[cluster]
name = "S1-AZ1"
kubeconfig = "{kubeconfig}"

[controller]
host = "{controller_url}"
version = "20.1.2"
username = "admin"
password_file = "{password_file}"
tenant = "admin"
cloud = "Default-Cloud"
se_group = "S1-AZ1-SE-Group"

[network]
vip_networks = [{{ name = "{VIP_NETWORK}", cidr = "{VIP_CIDR}" }}]
default_domain = "avi.iberia.local"

[api]
rate = 0
burst = {burst}
workers = {workers}
timeout_s = 60

[state]
path = "{state}"

[status]
listen = "127.0.0.1:{port}"

[log]
level = "{level}"
"""


class Akod:
    """`python -m akod run --config ...` as systemd would run it, optionally under a profiler."""

    def __init__(self, *, workdir: Path, kubeconfig: Path, controller_url: str, workers: int = 8,
                 burst: int = 40, level: str = "info") -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        password = workdir / "password"
        password.write_text("admin\n")
        password.chmod(0o600)
        self.state = workdir / "state.db"
        self.config = workdir / "akod.toml"
        self.config.write_text(akod_config(kubeconfig=kubeconfig, controller_url=controller_url,
                                           password_file=password, state=self.state, port=self.port,
                                           workers=workers, burst=burst, level=level))
        self.log_path = workdir / "akod.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._http: aiohttp.ClientSession | None = None

    def start(self, *, prefix: Sequence[str] = (), module_args: Sequence[str] | None = None,
              env: dict[str, str] | None = None) -> None:
        """Start the daemon. `prefix` wraps the command (py-spy); `module_args` replaces `-m akod`."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        argv = [*prefix, sys.executable, *(module_args or ["-m", "akod"]), "run", "--config", str(self.config)]
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== {' '.join(argv)} =====\n".encode())
            log.flush()
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})

    def daemon_pid(self) -> int:
        """The pid of the Python process running akod (a child of py-spy, when profiled)."""
        assert self.proc is not None
        pid = self.proc.pid
        for _ in range(3):
            if _is_akod(pid):
                return pid
            children = _children(pid)
            if not children:
                break
            pid = children[0]
        return pid

    def peak_rss_mb(self) -> float:
        """VmHWM of the daemon: the peak resident set size since it started."""
        try:
            for line in Path(f"/proc/{self.daemon_pid()}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def cpu(self) -> dict[str, float]:
        """CPU seconds (user + system) of the daemon so far, in all and per thread name."""
        return process_cpu(self.daemon_pid())

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def check_running(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise BenchError(f"akod exited with {self.proc.returncode}; log tail:\n{self.log_tail()}")

    async def _get(self, path: str) -> tuple[int, Any]:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        async with self._http.get(self.url + path) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    async def wait_synced(self, *, emulator: Emulator, virtual_services: int, timeout: float) -> float:
        """Seconds from start until ready, in sync and the controller holds `virtual_services` VSs."""
        async def probe() -> float | None:
            self.check_running()
            try:
                code, _ = await self._get("/readyz")
                if code != 200:
                    return None
                code, status = await self._get("/status")
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                return None
            if code != 200 or not status.get("ready") or not status["sync"]["in_sync"]:
                return None
            seen = time.monotonic() - self.started_at
            if await emulator.count("virtualservice") < virtual_services:
                return None
            return seen

        try:
            return await poll(probe, timeout=timeout, interval=0.1, what="akod to be ready and in sync")
        except BenchError as exc:
            raise BenchError(f"{exc}\nakod log tail:\n{self.log_tail()}") from None

    async def status(self) -> dict[str, Any]:
        code, body = await self._get("/status")
        if code != 200:
            raise BenchError(f"/status answered {code}: {body}")
        return body  # type: ignore[no-any-return]

    async def stop(self, *, timeout: float = 30.0) -> int:
        """SIGTERM the daemon (not a profiler wrapping it) and wait; return its exit code."""
        assert self.proc is not None
        if self._http is not None:
            await self._http.close()
            self._http = None
        pid = self.daemon_pid()
        if self.proc.poll() is None:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            raise BenchError(f"akod did not stop within {timeout:.0f}s of SIGTERM")
        return int(self.proc.returncode)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


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


def _ticks(stat_text: str) -> tuple[str, float]:
    """(comm, user + system seconds) from a /proc/.../stat line."""
    comm = stat_text[stat_text.index("(") + 1:stat_text.rindex(")")]
    fields = stat_text[stat_text.rindex(")") + 2:].split()
    return comm, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> dict[str, float]:
    """{"total": s, "main": s, "other threads": s} of CPU used by a process so far (0 if gone)."""
    try:
        _, total = _ticks(Path(f"/proc/{pid}/stat").read_text())
        _, main = _ticks(Path(f"/proc/{pid}/task/{pid}/stat").read_text())
    except (OSError, ValueError):
        return {"total": 0.0, "main": 0.0, "other threads": 0.0}
    return {"total": total, "main": main, "other threads": total - main}


class MachineCpu:
    """CPU of the whole machine between creation and `sample()`, split into ours and everybody else's.

    Ours: the processes in `pids` (the emulator, kube-apiserver, etcd, this process) plus whatever
    `extra` adds at sample time (akod, which starts after the snapshot). The rest is foreign load,
    e.g. a test suite running at the same time: it makes the figures unreliable, so it is shown.
    """

    def __init__(self, pids: Sequence[int] = ()) -> None:
        self._pids = list(pids)
        self._t0 = time.monotonic()
        self._busy0 = self._busy()
        self._ours0 = sum(process_cpu(p)["total"] for p in self._pids)

    @staticmethod
    def _busy() -> float:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def sample(self, *, extra: float = 0.0) -> dict[str, float]:
        """{"machine": cores busy, "ours": cores, "foreign": cores} on average since creation."""
        elapsed = max(time.monotonic() - self._t0, 1e-6)
        machine = (self._busy() - self._busy0) / elapsed
        ours = (sum(process_cpu(p)["total"] for p in self._pids) - self._ours0 + extra) / elapsed
        return {"machine": machine, "ours": ours, "foreign": max(0.0, machine - ours)}


async def wait_quiet(*, timeout: float, threshold: float = 0.25, seconds: int = 3) -> float:
    """Wait (polling) until the machine's busy cores stay below `threshold` for `seconds` in a row.

    Returns the last second's busy cores; gives up after `timeout` (the caller warns)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    busy = 0.0
    while time.monotonic() < deadline:
        probe = MachineCpu()
        await asyncio.sleep(1.0)
        busy = probe.sample()["machine"]
        quiet = quiet + 1 if busy < threshold else 0
        if quiet >= seconds:
            return busy
    return busy


# -- the machine --------------------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {"nproc": str(len(os.sched_getaffinity(0))), "akod": akod_revision(),
            "cpu": cpu or platform.processor() or "?", "memory": mem, "python": platform.python_version(),
            "kernel": platform.release(), "platform": platform.platform()}


def akod_revision() -> str:
    """`<commit> (+N files changed under akod/)`: what was measured, since akod changes fast."""
    if os.environ.get("AKOD_BENCH_REV"):
        return f"{os.environ['AKOD_BENCH_REV']} (git archive, via PYTHONPATH)"
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "akod"], cwd=REPO, capture_output=True,
                               text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return f"{head or '?'}" + (f" + {len(dirty)} uncommitted file(s) under akod/" if dirty else "")
