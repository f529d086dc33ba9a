"""What the benchmarks share: the bench's choices on top of the dev harness, and its measurements.

Everything runs as it does in production or in the end-to-end tests, through the one harness in
`akod.devenv`: a real kube-apiserver (`akod.devenv.apiserver.KubeApiServer`), the Avi controller
emulator in its own process (`akod.devenv.processes.EmulatorProcess`, not strict, no faults),
`python -m akod run --config ...` (`akod.devenv.processes.DaemonProcess`) and the seed's Nodes.
What is the bench's own stays here: its config choices (no pacing, a VIP network grown to a
/16), its workload of Services, the write counts from `/_emulator/stats`, CPU and memory
sampling, the machine's description. Nothing sleeps a fixed time hoping for an outcome: waits
poll against a deadline (`akod.devenv.polling.eventually`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import platform
import subprocess
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from akod.devenv.config import SEED_VIP_NETWORK, SeedOptions
from akod.devenv.controller import WRITE_METHODS, Controller
from akod.devenv.errors import HarnessError
from akod.devenv.processes import DaemonProcess, EmulatorProcess
from akod.devenv.seed import create_seed_nodes

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
NOT_OBJECTS = ("login", "logout")  # session calls: a POST, but no write to the configuration

VIP_NETWORK = SEED_VIP_NETWORK
# The seed network has 241 VIP addresses (10.10.25.10-250): too few for 1,000 Services.
VIP_CIDR = "10.10.0.0/16"
VIP_RANGE = ("10.10.1.0", "10.10.250.250")
# What the bench runs akod with: no pacing (the point is akod's own speed), the grown VIP network.
BENCH_OPTIONS = SeedOptions(vip_cidr=VIP_CIDR, api_rate=0, api_burst=40, api_workers=8, api_timeout_s=60,
                            comment="written by bench")


def compile_akod(*roots: Path) -> None:
    """Byte-compile akod's modules, as `pip install` does for an installed package.

    This environment sets PYTHONDONTWRITEBYTECODE=1, so without this every `akod run` of a bench
    would compile all of akod's modules again at start (about 0.3 s); Python reads existing
    `__pycache__` files either way."""
    import compileall

    for root in roots or (REPO / "akod",):
        compileall.compile_dir(str(root), quiet=1)


def run_on_apiserver(prog: str, body: Callable[[Any, Path], Coroutine[Any, Any, T]], *, keep: bool = False,
                     extra_args: Sequence[str] = (), say: Callable[[str], None] = print) -> T | None:
    """A fresh work dir and kube-apiserver + etcd, akod byte-compiled, then `asyncio.run(body(kube, workdir))`.

    The work dir is removed unless `keep` or the bench failed (a `HarnessError`: said on stderr, None back)."""
    import shutil
    import sys
    import tempfile

    from akod.devenv.apiserver import KubeApiServer, ensure_binaries

    workdir = Path(tempfile.mkdtemp(prefix=f"akod-{prog.replace('/', '-')}-"))
    ensure_binaries()
    compile_akod()
    try:
        with KubeApiServer(extra_args=extra_args) as kube:
            say(f"kube-apiserver ready at {kube.url} {' '.join(extra_args)}".rstrip())
            out: T = asyncio.run(body(kube, workdir))
    except HarnessError as exc:
        print(f"{prog} failed: {exc}\n(work dir kept: {workdir})", file=sys.stderr)
        return None
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def kube_pids(kube: Any) -> list[int]:
    """The pids of the harness's kube-apiserver and etcd (for their CPU)."""
    return [p.pid for p in (getattr(kube, "_apiserver", None), getattr(kube, "_etcd", None)) if p]


def print_rows(rows: Sequence[tuple[str, str, str]]) -> None:
    """A bench's figures: label, value (right-aligned), note (target and PASS/MISS, or what it counts)."""
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    for label, value, note in rows:
        print(f"  {label:<{width}}  {value:>{vwidth}}  {note}")


async def bounded(count: int, one: Callable[[int], Coroutine[Any, Any, None]], *, concurrency: int = 20) -> None:
    """`one(0)` ... `one(count - 1)`, at most `concurrency` at once (as `kubectl apply` of a big manifest)."""
    sem = asyncio.Semaphore(concurrency)

    async def limited(i: int) -> None:
        async with sem:
            await one(i)

    await asyncio.gather(*(limited(i) for i in range(count)))


async def ingresses_with_status(net: Any, namespace: str) -> int:
    """How many Ingresses of `namespace` show an address in their status."""
    items = (await net.list_namespaced_ingress(namespace)).items
    return sum(1 for ing in items if ing.status and ing.status.load_balancer and ing.status.load_balancer.ingress)


class BenchError(HarnessError):
    """Something the benchmark needs did not happen; the message says what."""


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


class Emulator(EmulatorProcess):
    """The emulator as the bench runs it (seed fixtures, not strict, no faults), with a REST client.

    `api` keeps one HTTP session: the bench polls it while measuring the emulator's CPU."""

    def __init__(self) -> None:
        super().__init__(strict=False)
        self.api = Controller(self.url, keep_session=True)

    async def reset(self) -> None:
        """Back to the seed fixtures (objects, addresses, request log), then the bigger VIP network."""
        await self.api.reset()
        await self.grow_vip_network()

    async def grow_vip_network(self) -> None:
        net = await self.api.one("network", VIP_NETWORK)
        cidr = ipaddress.ip_network(VIP_CIDR)
        net["configured_subnets"] = [{
            "prefix": {"ip_addr": {"addr": str(cidr.network_address), "type": "V4"}, "mask": cidr.prefixlen},
            "static_ip_ranges": [{"type": "STATIC_IPS_FOR_VIP", "range": {
                "begin": {"addr": VIP_RANGE[0], "type": "V4"}, "end": {"addr": VIP_RANGE[1], "type": "V4"}}}],
        }]
        code, body = await self.api.call("PUT", f"/api/network/{net['uuid']}", net)
        if code != 200:
            raise BenchError(f"PUT network {VIP_NETWORK} answered {code}: {body}")
        # Not counted: the caller reads stats after this, and reset() cleared the log before it.

    async def aclose(self) -> None:
        await self.api.aclose()


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
        await create_seed_nodes(self.core, exist_ok=True)

    async def namespace(self, name: str) -> None:
        await self.core.create_namespace({"metadata": {"name": name}})

    async def create_services(self, ns: str, count: int, *, ports: Sequence[int], endpoints: int,
                              start: int = 0) -> None:
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

        await asyncio.gather(*(one(i) for i in range(start, start + count)))

    async def create_backends(self, ns: str, count: int, *, endpoints: int = 4, digits: int = 3) -> None:
        """`count` ClusterIP Services `svc-<i>` (port 80 -> 8080) with `endpoints` ready addresses: Ingress backends."""
        async def one(i: int) -> None:
            name = f"svc-{i:0{digits}d}"
            async with self._sem:
                await self.core.create_namespaced_service(ns, {
                    "metadata": {"name": name},
                    "spec": {"type": "ClusterIP", "selector": {"app": name},
                             "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}})
                await self.core.create_namespaced_endpoints(ns, {
                    "metadata": {"name": name},
                    "subsets": [{"addresses": [{"ip": ip} for ip in endpoint_ips(i, endpoints)],
                                 "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]})

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


class Akod(DaemonProcess):
    """`python -m akod run --config ...` as systemd would run it, optionally under a profiler."""

    def __init__(self, *, workdir: Path, kubeconfig: Path, controller_url: str, workers: int = 8,
                 burst: int = 40, rate: float = 0.0, level: str = "info", events: bool = True,
                 extra: str = "") -> None:
        # events: `[sync] enable_events` (the Normal `Synced` Event per object that gets its VIP)
        toml = ("" if events else "[sync]\nenable_events = false\n") + extra
        super().__init__(workdir=workdir, kubeconfig=kubeconfig, controller_url=controller_url,
                         options=replace(BENCH_OPTIONS, api_workers=workers, api_burst=burst, api_rate=rate,
                                         log_level=level, extra=toml),
                         status_timeout_s=10.0, keep_session=True)

    async def astop(self, *, timeout: float = 30.0) -> int:
        """SIGTERM the daemon (not a profiler wrapping it) and wait; its exit code."""
        return await super().astop(timeout=timeout)

    def rss_mb(self) -> float:
        """The daemon's resident memory now (VmRSS), MB."""
        for line in Path(f"/proc/{self.daemon_pid()}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu(self) -> dict[str, float]:
        """CPU seconds (user + system) of the daemon so far, in all and per thread name."""
        return process_cpu(self.daemon_pid())

    async def wait_synced(self, *, emulator: Emulator, virtual_services: int, timeout: float) -> float:
        """Seconds from start until ready, in sync and the controller holds `virtual_services` VSs."""
        async def probe() -> float | None:
            if await self.in_sync_status() is None:
                return None
            seen = time.monotonic() - self.started_at
            if await emulator.api.count("virtualservice") < virtual_services:
                return None
            return seen

        return await self.wait_for(probe, timeout=timeout, interval=0.1, what="akod to be ready and in sync")


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
        self._steal0 = self._steal()
        self._ours0 = sum(process_cpu(p)["total"] for p in self._pids)

    @staticmethod
    def _busy() -> float:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _steal() -> float:
        """Seconds the hypervisor ran something else while this VM wanted its cores (/proc/stat)."""
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (fields[7] if len(fields) > 7 else 0) / os.sysconf("SC_CLK_TCK")

    def sample(self, *, extra: float = 0.0) -> dict[str, float]:
        """{"machine": cores busy, "ours": cores, "foreign": cores, "steal": cores} on average since creation.

        `steal` is CPU the hypervisor gave to other VMs while this one wanted it: on this 2 vCPU VM it
        was 5-26 % of a core in some minutes and ~0 in others, which is why two runs of the same code
        differ by 1.5x in wall time and only ratios within one run compare."""
        elapsed = max(time.monotonic() - self._t0, 1e-6)
        steal = (self._steal() - self._steal0) / elapsed
        machine = (self._busy() - self._busy0) / elapsed - steal
        ours = (sum(process_cpu(p)["total"] for p in self._pids) - self._ours0 + extra) / elapsed
        return {"machine": machine, "ours": ours, "foreign": max(0.0, machine - ours), "steal": steal}


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
