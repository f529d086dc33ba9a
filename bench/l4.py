"""`python -m bench.l4`: L4 cold sync, warm restart and memory of akod, against a bare HTTP baseline.

What it does (issue: "1,000 Services x 2 ports x 4 endpoints, cold sync against the emulator
without rate limit, compared in the same run with a bare aiohttp client POSTing the same bodies
with the same concurrency; then a warm restart"; issue 12: the fair baseline also writes the statuses):

1. Starts a real kube-apiserver + etcd and the Avi controller emulator (own process, seed
   fixtures, not strict, no faults). Grows the VIP network AVI_FRONTEND_3025 to 10.10.0.0/16 (the
   seed's 241 addresses are too few), creates the seed's 3 Nodes and N LoadBalancer Services in a
   fresh namespace, each with ports 80 and 443 and a core v1 Endpoints object with 4 addresses.
2. Rounds (default 2), alternating the order so that neither side always runs on a warmer
   machine: round 1 runs akod then the baseline, round 2 the baseline then akod.
   - akod cold sync: empty controller (`/_emulator/reset`), new state database, Service statuses
     cleared; `python -m akod run` with `[api] rate = 0`, `burst = 40`, `workers = 8`. Timed from
     process start until `/status` says ready and in sync and the emulator holds N virtual
     services. Writes are counted by the emulator. Peak RSS is the daemon's VmHWM.
   - warm restart: SIGTERM (must exit 0), start again on the same state database, time to ready
     and in sync, and the write calls the restarted daemon made (target 0).
   - baselines (`bench.baseline`), each on an empty controller with the Service statuses cleared:
     'fair' (the target, issue 12): a bare aiohttp client POSTs the bodies akod stored in
     `avi_desired` (the first akod round's), key by key in akod's order (vsvip, pool, l4policyset,
     virtualservice), `workers` controller calls and `2 * workers` keys at once as akod's engine,
     then per Service the one merge patch of status + FQDN-map annotation akod wrote (captured
     from Kubernetes); 'events': the same plus akod's `Synced` Event; 'avi': the POSTs only.
3. Prints the table; a missed target is marked MISS, the exit status is 0 anyway. CPU seconds
   of akod (main thread vs. its SQLite threads) and of the emulator are shown next to the wall
   times, and so is foreign load: CPU used on the machine by processes that are not part of
   this bench (a test suite running alongside makes the wall times unreliable).

Options: `--services N`, `--rounds R`, `--rev GIT-REV` (bench akod as of a commit, e.g. to compare
before/after a change), `--quiet-wait S` (first wait for an idle machine), and
`--profile py-spy|cprofile`: one more, untimed, cold sync under a profiler and `bench.counted`
(call counts per Service, SQLite round trips, write-lock use), with akod's hotspots. Nothing
waits a fixed time: every wait polls against a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from akod.devenv.errors import HarnessError
from bench.baseline import BaselineRun, KubeAccess, WriteBack, capture_writeback, run_baseline
from bench.common import (
    REPO,
    VIP_CIDR,
    Akod,
    Emulator,
    Kube,
    MachineCpu,
    compile_akod,
    machine_info,
    process_cpu,
    reads_of,
    wait_quiet,
    writes_by_type,
    writes_of,
)

PORTS = (80, 443)
RATIO_TARGET = 1.3  # against the fair baseline (issue 12)
AKOD_VARIANTS = {  # how akod runs: `[sync] enable_events`; each is compared with the baseline doing the same
    "events": "default config: a Normal Synced Event per Service (AKO's enableEvents: true)",
    "fair": "[sync] enable_events = false (AKO's enableEvents: false): status + annotation only",
}
PAIRS = {"events": "events", "fair": "fair"}  # akod variant -> the baseline that does the same work
VARIANTS = {  # the baselines: what the bare client does per Service
    "fair": "Avi POSTs + one merge patch of status + FQDN-map annotation (what akod must do; the target)",
    "events": "as 'fair', plus the Synced Event akod posts",
    "avi": "Avi POSTs only (the old, unfair baseline of issue 3)",
}
OBJECTS_PER_SERVICE = 5  # virtualservice + vsvip + 2 pools (one per port) + l4policyset


@dataclass
class AkodRun:
    cold_s: float = 0.0
    cold_writes: int = 0
    cold_reads: int = 0
    cold_by_type: dict[str, int] = field(default_factory=dict)
    cold_rss_mb: float = 0.0
    cold_exit: int = -1
    warm_s: float = 0.0
    warm_writes: int = 0
    warm_reads: int = 0
    warm_by_type: dict[str, int] = field(default_factory=dict)
    warm_rss_mb: float = 0.0
    warm_exit: int = -1
    cold_cpu: dict[str, float] = field(default_factory=dict)
    cold_emulator_cpu: float = 0.0
    cold_kube_cpu: float = 0.0  # kube-apiserver + etcd, during the cold sync
    cold_load: dict[str, float] = field(default_factory=dict)
    startup_s: float = 0.0  # process start -> first write to the controller
    write_span_s: float = 0.0  # first -> last write
    warm_cpu: dict[str, float] = field(default_factory=dict)
    services_with_ip: int = 0
    vips_ok: bool = False


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


# -- the baseline ----------------------------------------------------------------------------


def desired_bodies(state_db: Path) -> list[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """(Service name, the bodies akod stored for its key in akod's write order, as sent (API 20.1.2))."""
    from akod.model.objects import RANK, for_api_version

    with sqlite3.connect(f"file:{state_db}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT owner_key, obj_type, name, body FROM avi_desired").fetchall()
    by_key: dict[str, list[tuple[int, str, str, dict[str, Any]]]] = collections.defaultdict(list)
    service: dict[str, str] = {}
    for key, obj_type, name, body in rows:
        if not key.startswith("l4:"):
            continue  # the VRF's static routes: not part of the L4 comparison
        data = json.loads(body)
        if obj_type == "virtualservice":  # service_metadata names the Service: {"namespace_svc_name": ["ns/name"]}
            service[key] = json.loads(data["service_metadata"])["namespace_svc_name"][0].split("/", 1)[1]
        by_key[key].append((RANK.get(obj_type, 8), name, obj_type, for_api_version(data, (20, 1, 2))))
    return [(service.get(key, "?"), [(t, b) for _, _, t, b in sorted(objs, key=lambda o: (o[0], o[1]))])
            for key, objs in sorted(by_key.items())]


def desired_checksums(state_db: Path) -> set[tuple[str, str, str]]:
    with sqlite3.connect(f"file:{state_db}?mode=ro", uri=True) as db:
        return set(db.execute("SELECT obj_type, name, checksum FROM avi_desired").fetchall())


# -- akod ------------------------------------------------------------------------------------


async def run_akod(*, akod: Akod, emulator: Emulator, kube: Kube, namespace: str, services: int,
                   timeout: float, pids: list[int]) -> AkodRun:
    run = AkodRun()
    before = await emulator.api.stats()
    emu_cpu = process_cpu(emulator.proc.pid)["total"]
    kube_pids = [p for p in pids if p not in (os.getpid(), emulator.proc.pid)]
    kube_cpu = sum(process_cpu(p)["total"] for p in kube_pids)
    machine = MachineCpu(pids)
    started_epoch = time.time()
    akod.start()
    try:
        run.cold_s = await akod.wait_synced(emulator=emulator, virtual_services=services, timeout=timeout)
        run.cold_cpu = akod.cpu()
        run.cold_load = machine.sample(extra=run.cold_cpu["total"])
        code, entries = await emulator.api.call("GET", "/_emulator/requests?method=POST&path=/api/")
        stamps = [e["t"] for e in entries] if code == 200 and isinstance(entries, list) else []
        if stamps:
            run.startup_s = min(stamps) - started_epoch
            run.write_span_s = max(stamps) - min(stamps)
        run.cold_emulator_cpu = process_cpu(emulator.proc.pid)["total"] - emu_cpu
        run.cold_kube_cpu = sum(process_cpu(p)["total"] for p in kube_pids) - kube_cpu
        after = await emulator.api.stats()
        run.cold_writes = writes_of(after) - writes_of(before)
        run.cold_reads = reads_of(after) - reads_of(before)
        run.cold_by_type = writes_by_type(before, after)
        run.cold_rss_mb = akod.peak_rss_mb()
        run.services_with_ip = await kube.services_with_ip(namespace)
        run.vips_ok = await vips_in_network(emulator, services)
        run.cold_exit = await akod.astop()
        # warm restart: same state database, nothing changed
        before = await emulator.api.stats()
        akod.start()
        run.warm_s = await akod.wait_synced(emulator=emulator, virtual_services=services, timeout=timeout)
        run.warm_rss_mb = akod.peak_rss_mb()
        run.warm_cpu = akod.cpu()
        run.warm_exit = await akod.astop()
        after = await emulator.api.stats()
        run.warm_writes = writes_of(after) - writes_of(before)
        run.warm_reads = reads_of(after) - reads_of(before)
        run.warm_by_type = writes_by_type(before, after)
    finally:
        await akod.aclose()
    return run


async def vips_in_network(emulator: Emulator, services: int) -> bool:
    """Every VsVip got an address, all distinct and inside the grown VIP network."""
    import ipaddress

    code, body = await emulator.api.call("GET", "/_emulator/objects?type=vsvip")
    if code != 200:
        return False
    net = ipaddress.ip_network(VIP_CIDR)
    addrs = [v["ip_address"]["addr"] for o in body["results"] for v in o.get("vip") or [] if v.get("ip_address")]
    return len(addrs) == services and len(set(addrs)) == services and all(
        ipaddress.ip_address(a) in net for a in addrs)


# -- profiling -------------------------------------------------------------------------------


async def profile_akod(*, tool: str, workdir: Path, kubeconfig: Path, emulator: Emulator, kube: Kube,
                       namespace: str, services: int, workers: int, timeout: float, top: int) -> str:
    await emulator.reset()
    await kube.clear_statuses(namespace)
    akod = Akod(workdir=workdir / "profile", kubeconfig=kubeconfig, controller_url=emulator.url, workers=workers,
                events=False)  # the 'fair' variant: the one the target is about
    out = workdir / "profile" / ("akod.pyspy.txt" if tool == "py-spy" else "akod.prof")
    counts = workdir / "profile" / "counts.json"
    path = ":".join(p for p in (os.environ.get("PYTHONPATH", ""), str(REPO)) if p)
    env = {"PYTHONPATH": path, "AKOD_BENCH_COUNTS": str(counts)}
    try:
        if tool == "py-spy":
            pyspy = shutil.which("py-spy") or "/tmp/pyspy-venv/bin/py-spy"
            akod.start(prefix=[pyspy, "record", "--format", "raw", "--rate", "100", "--threads",
                               "--nonblocking", "-o", str(out), "--"],
                       module_args=["-m", "bench.counted"], env=env)
        else:
            akod.start(module_args=["-m", "cProfile", "-o", str(out), "-m", "bench.counted"], env=env)
        seconds = await akod.wait_synced(emulator=emulator, virtual_services=services, timeout=timeout * 3)
        code = await akod.astop()
    finally:
        await akod.aclose()
    report = [f"profile: {tool}, cold sync of {services} Services took {seconds:.1f}s under the profiler "
              f"(akod exit {code}); raw data: {out}"]
    report.append(pyspy_report(out, top=top) if tool == "py-spy" else cprofile_report(out, top=top))
    if counts.exists():
        report.append(counts_report(counts, services=services))
    return "\n".join(report)


def counts_report(path: Path, *, services: int) -> str:
    """What the whole run (cold sync, then SIGTERM) cost, per Service: from `bench.counted`."""
    data = json.loads(path.read_text())
    first = ("L4Sync", "store write lock", "sqlite")
    lines = [f"calls made by akod in the profiled run, per Service of {services} (wall: summed over concurrent "
             f"calls, waits included):",
             f"  {'call':<52} {'calls':>7} {'/Service':>9} {'wall s':>8}"]
    for name, c in sorted(data.items(), key=lambda kv: (not kv[0].startswith(first), kv[0] if kv[0].startswith(
            first) else "", -kv[1]["calls"])):
        count = f"{c['calls']:>7} {c['calls'] / services:>9.2f}" if c["calls"] else f"{'':>7} {'':>9}"
        lines.append(f"  {name:<52} {count} {c['wall_s']:>8.1f}")
    return "\n".join(lines)


PACKAGES = (  # leaf-most frame wins: where the main thread's CPU goes, by library
    ("sqlalchemy/", "SQLAlchemy ORM + aiosqlite (state database)"),
    ("aiosqlite/", "SQLAlchemy ORM + aiosqlite (state database)"),
    ("kubernetes_asyncio/", "kubernetes_asyncio (status, events, watches)"),
    ("dateutil/", "kubernetes_asyncio (status, events, watches)"),
    ("aiohttp/", "aiohttp (HTTP to the controller and the apiserver)"),
    ("yarl/", "aiohttp (HTTP to the controller and the apiserver)"),
    ("multidict/", "aiohttp (HTTP to the controller and the apiserver)"),
    ("json/", "json encode/decode"),
    ("akod/", "akod's own code"),
    ("uvloop/", "event loop (uvloop, C: sockets, callbacks, thread wake-ups)"),
    ("asyncio/", "event loop (uvloop, C: sockets, callbacks, thread wake-ups)"),
)


def pyspy_report(path: Path, *, top: int) -> str:
    """Where the daemon's CPU goes, from py-spy's collapsed stacks (on-CPU samples only)."""
    self_n: collections.Counter[str] = collections.Counter()
    incl_n: collections.Counter[str] = collections.Counter()
    by_package: collections.Counter[str] = collections.Counter()
    main_total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f]
        thread = frames[0] if frames and frames[0].startswith("thread ") else "thread (?)"
        frames = [f for f in frames if not f.startswith(("thread ", "process "))]
        if not frames:
            continue
        if "MainThread" not in thread:
            continue
        main_total += n
        names = [_frame(f) for f in frames]
        self_n[names[-1]] += n
        for name in set(names):
            incl_n[name] += n
        for frame in reversed(frames):
            bucket = next((label for marker, label in PACKAGES if marker in frame), None)
            if bucket is not None:
                by_package[bucket] += n
                break
        else:
            by_package["other"] += n
    if not main_total:
        return "py-spy recorded no samples of the main thread"

    def pct(n: int, of: int) -> str:
        return f"{100 * n / of:5.1f}%"

    # py-spy counts the aiosqlite threads blocked in SimpleQueue.get() as busy: their share of the
    # samples is meaningless, so only the main thread is reported (see the CPU row of the table).
    lines = [f"{main_total} on-CPU samples of the main thread; by library (leaf-most frame):"]
    lines += [f"  {pct(n, main_total)}  {name}" for name, n in by_package.most_common()]
    lines.append(f"main thread, top {top} akod functions by inclusive time:")
    lines += [f"  {pct(n, main_total)}  {name}" for name, n in
              [(k, v) for k, v in incl_n.most_common() if "akod/" in k and "akod/cli/" not in k
               and "akod/__main__" not in k and "akod/daemon/entry" not in k][:top]]
    lines.append(f"main thread, top {top} akod functions by self time:")
    lines += [f"  {pct(n, main_total)}  {name}" for name, n in
              [(k, v) for k, v in self_n.most_common() if "akod/" in k][:top]]
    lines.append(f"main thread, top {top} functions by self time (any code):")
    lines += [f"  {pct(n, main_total)}  {name}" for name, n in self_n.most_common(top)]
    return "\n".join(lines)


def _frame(frame: str) -> str:
    """`sync (akod/sync/l4sync.py:170)` -> `sync (akod/sync/l4sync.py)`: group a function's lines."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file = where.rsplit(":", 1)[0]
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
    if "/akod/" in file:
        file = "akod/" + file.split("/akod/", 1)[1]
    return f"{name} ({file})"


def cprofile_report(path: Path, *, top: int) -> str:
    import io
    import pstats

    lines = []
    for sort, title in (("cumulative", "cumulative"), ("tottime", "self")):
        buf = io.StringIO()
        stats = pstats.Stats(str(path), stream=buf)
        stats.sort_stats(sort).print_stats(r"akod/", top)
        lines.append(f"top {title} (akod functions, main thread only):")
        lines.append(buf.getvalue().split("ncalls", 1)[-1].rstrip())
    return "\n".join(lines)


# -- the run ---------------------------------------------------------------------------------


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


async def bench(args: argparse.Namespace, *, kubeconfig: Path, kube_pids: list[int], workdir: Path,
                access: KubeAccess) -> int:
    from kubernetes_asyncio import config as kconfig

    n = args.services
    objects = OBJECTS_PER_SERVICE * n
    emulator = Emulator()
    pids = [os.getpid(), emulator.proc.pid, *kube_pids]
    say(f"emulator (seed fixtures, not strict) at {emulator.url}")
    api = await kconfig.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    akod_runs: list[tuple[int, str, AkodRun]] = []
    base_runs: list[tuple[int, str, BaselineRun]] = []
    profile = ""
    try:
        async with api:
            kube = Kube(api, concurrency=20)
            await emulator.reset()
            await kube.seed_nodes()
            namespace = f"bench-{secrets.token_hex(3)}"
            await kube.namespace(namespace)
            started = time.monotonic()
            await kube.create_services(namespace, n, ports=PORTS, endpoints=args.endpoints)
            say(f"created {n} LoadBalancer Services x {len(PORTS)} ports x {args.endpoints} endpoints in "
                f"namespace {namespace} ({time.monotonic() - started:.1f}s)")
            groups: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = []
            writeback: dict[str, WriteBack] = {}
            first_checksums: set[tuple[str, str, str]] = set()

            async def akod_round(r: int, variant: str) -> None:
                nonlocal groups, first_checksums, writeback
                await emulator.reset()
                cleared = await kube.clear_statuses(namespace)
                akod = Akod(workdir=workdir / f"akod-{r}-{variant}", kubeconfig=kubeconfig,
                            controller_url=emulator.url, workers=args.workers, events=variant == "events")
                say(f"round {r}: akod ({AKOD_VARIANTS[variant]}) cold sync ({cleared} Service statuses cleared "
                    f"first), then warm restart")
                run = await run_akod(akod=akod, emulator=emulator, kube=kube, namespace=namespace, services=n,
                                     timeout=args.timeout, pids=pids)
                say(f"round {r}: akod cold {run.cold_s:.1f}s, {run.cold_writes} writes, peak RSS "
                    f"{run.cold_rss_mb:.0f} MB; warm restart {run.warm_s:.1f}s, {run.warm_writes} writes")
                akod_runs.append((r, variant, run))
                sums = desired_checksums(akod.state)
                if not groups:
                    groups = desired_bodies(akod.state)
                    writeback = await capture_writeback(kube.core, namespace)
                    missing = sum(1 for name, _ in groups if name not in writeback)
                    if missing:
                        say(f"round {r}: WARNING: {missing} Services without a captured write-back")
                    first_checksums = sums
                elif sums != first_checksums:
                    say(f"round {r}: WARNING: akod's desired bodies differ from round 1's")

            async def baseline_round(r: int, variant: str) -> None:
                await emulator.reset()
                if variant != "avi":
                    await kube.clear_statuses(namespace)
                before = await emulator.api.stats()
                say(f"round {r}: baseline {variant!r}: {VARIANTS[variant]}")
                run = await run_baseline(url=emulator.url, emulator_pid=emulator.proc.pid, pids=pids,
                                         kube_pids=kube_pids, groups=groups, concurrency=args.workers,
                                         namespace=namespace, kube=access if variant != "avi" else None,
                                         writeback=writeback, events=variant == "events")
                after = await emulator.api.stats()
                run.virtual_services = int(after["objects"].get("virtualservice", 0))
                if run.errors:
                    say(f"round {r}: baseline had {len(run.errors)} errors, first: {run.errors[0]}")
                say(f"round {r}: baseline {variant!r} {run.seconds:.1f}s, {writes_of(after) - writes_of(before)} "
                    f"Avi writes, {run.patches} status patches, {run.events} Events")
                base_runs.append((r, variant, run))

            variants = [v for v in args.baselines.split(",") if v]
            akods = [v for v in args.akod.split(",") if v]
            for r in range(1, args.rounds + 1):
                if r % 2 == 1 or not groups:
                    for v in akods:
                        await akod_round(r, v)
                    for v in variants:
                        await baseline_round(r, v)
                else:
                    for v in variants:
                        await baseline_round(r, v)
                    for v in akods:
                        await akod_round(r, v)

            if args.profile != "none":
                say(f"profiling one more cold sync under {args.profile} (not timed)")
                profile = await profile_akod(tool=args.profile, workdir=workdir, kubeconfig=kubeconfig,
                                             emulator=emulator, kube=kube, namespace=namespace, services=n,
                                             workers=args.workers, timeout=args.timeout, top=args.top)
    finally:
        await emulator.aclose()
        emulator.close()

    print_report(args=args, akod_runs=akod_runs, base_runs=base_runs, objects=objects, workdir=workdir)
    if profile:
        print()
        print(profile)
    return 0


def print_report(*, args: argparse.Namespace, akod_runs: list[tuple[int, str, AkodRun]],
                 base_runs: list[tuple[int, str, BaselineRun]], objects: int, workdir: Path) -> None:
    n = args.services
    info = machine_info()
    first = akod_runs[0][2]
    runs = [a for _, _, a in akod_runs]
    warm_writes = max(r.warm_writes for r in runs)
    rss = max(max(r.cold_rss_mb, r.warm_rss_mb) for r in runs)
    exits_ok = all(r.cold_exit == 0 and r.warm_exit == 0 for r in runs)
    order = {r: ("akod first" if r % 2 == 1 else "baselines first") for r, _, _ in akod_runs}

    print()
    print(f"bench/l4: {n} Services x {len(PORTS)} ports x {args.endpoints} endpoints, [api] rate = 0, "
          f"burst = 40, workers = {args.workers}")
    rows: list[tuple[str, str, str]] = [
        ("services", f"{n}", ""),
        ("objects (VS + vsvip + 2 pools + l4policyset)", f"{objects}", ""),
    ]
    for r, av, a in akod_runs:
        rows.append((f"round {r} ({order[r]}): akod {av!r} cold sync", f"{a.cold_s:.2f} s",
                     f"CPU: akod {a.cold_cpu.get('total', 0):.1f} s (main thread {a.cold_cpu.get('main', 0):.1f}, "
                     f"sqlite/other threads {a.cold_cpu.get('other threads', 0):.1f}), "
                     f"emulator {a.cold_emulator_cpu:.1f} s, kube-apiserver + etcd {a.cold_kube_cpu:.1f} s"))
        rows.append((f"round {r}: akod {av!r} start -> first write, first -> last write",
                     f"{a.startup_s:.2f} s + {a.write_span_s:.2f} s", ""))
    for r, v, b in base_runs:
        rows.append((f"round {r}: baseline {v!r}", f"{b.seconds:.2f} s",
                     f"{b.posts} POSTs, {b.patches} patches, {b.events} Events, {len(b.errors)} errors; CPU: "
                     f"client {b.client_cpu:.1f} s, emulator {b.emulator_cpu:.1f} s, "
                     f"kube-apiserver + etcd {b.kube_cpu:.1f} s"))
    for av in dict.fromkeys(v for _, v, _ in akod_runs):
        akod_med = statistics.median(a.cold_s for _, v, a in akod_runs if v == av)
        for bv in dict.fromkeys(v for _, v, _ in base_runs):
            base_med = statistics.median(b.seconds for _, v, b in base_runs if v == bv)
            ratio = akod_med / base_med
            paired = PAIRS.get(av) == bv
            rows.append((f"ratio, median akod {av!r} / median baseline {bv!r}", f"{ratio:.2f}",
                         f"same work: target <= {RATIO_TARGET} {mark(ratio <= RATIO_TARGET)}" if paired
                         else "(not the same work: for comparison)"))
    rows += [
        ("writes per object, cold sync", f"{first.cold_writes / objects:.3f}",
         f"{first.cold_writes} writes: " + ", ".join(f"{k} {v}" for k, v in first.cold_by_type.items())),
        ("reads during cold sync", f"{first.cold_reads}", ""),
    ]
    for r, av, a in akod_runs:
        loads = [b.load["foreign"] for rr, _, b in base_runs if rr == r]
        worst = max([a.cold_load["foreign"], *loads])
        stolen = [b.load.get("steal", 0.0) for rr, _, b in base_runs if rr == r]
        rows.append((f"round {r}: cores busy during akod {av!r}'s run", f"{a.cold_load['machine']:.2f}",
                     f"of {info['nproc']}; foreign load (not this bench): akod run {a.cold_load['foreign']:.2f}, "
                     f"baselines {', '.join(f'{x:.2f}' for x in loads)} cores; stolen by the hypervisor: akod run "
                     f"{a.cold_load.get('steal', 0):.2f}, baselines {', '.join(f'{x:.2f}' for x in stolen)}"
                     + ("  <- figures disturbed" if worst > 0.2 else "")))
    rows += [
        ("warm restart writes (target 0)",
         " / ".join(str(r.warm_writes) for r in runs),
         mark(warm_writes == 0) + "".join(f" {k} {v}" for k, v in first.warm_by_type.items())),
        ("warm restart: time to ready + in sync",
         " / ".join(f"{r.warm_s:.2f} s" for r in runs),
         f"{first.warm_reads} reads (the controller's objects listed again); "
         f"akod CPU {first.warm_cpu.get('total', 0):.1f} s"),
        ("peak RSS of akod (VmHWM)", f"{rss:.0f} MB",
         " / ".join(f"cold {r.cold_rss_mb:.0f}, warm {r.warm_rss_mb:.0f}" for r in runs)),
        ("Services with EXTERNAL-IP / VsVips in " + VIP_CIDR,
         f"{first.services_with_ip} / {'all' if first.vips_ok else 'NOT all'}",
         mark(first.services_with_ip == n and first.vips_ok)),
        ("akod exit codes after SIGTERM", " ".join(f"{r.cold_exit},{r.warm_exit}" for r in runs),
         mark(exits_ok)),
        ("machine", f"nproc {info['nproc']}, {info['memory']}", info["cpu"]),
        ("python", info["python"], info["platform"]),
        ("akod revision", info["akod"], ""),
    ]
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    for label, value, note in rows:
        print(f"  {label:<{width}}  {value:>{vwidth}}  {note}")
    print(f"  (work dir with configs, state databases and akod logs: {workdir}; removed at exit unless --keep)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.l4", description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=1000, help="LoadBalancer Services (default 1000)")
    p.add_argument("--endpoints", type=int, default=4, help="ready addresses per Service (default 4)")
    p.add_argument("--workers", type=int, default=8, help="akod [api] workers = baseline concurrency (default 8)")
    p.add_argument("--rounds", type=int, default=2, help="rounds, alternating which side goes first (default 2)")
    p.add_argument("--timeout", type=float, default=240.0, help="deadline of each wait, seconds (default 240)")
    p.add_argument("--profile", choices=("none", "py-spy", "cprofile"), default="none",
                   help="one more cold sync under a profiler, with akod's hotspots (default none)")
    p.add_argument("--akod", default="events,fair",
                   help="how akod runs each round, comma-separated: " + ", ".join(
                       f"{k} = {v}" for k, v in AKOD_VARIANTS.items()) + " (default both)")
    p.add_argument("--baselines", default="fair,events,avi",
                   help="which baselines to run each round, comma-separated: " + ", ".join(
                       f"{k} = {v}" for k, v in VARIANTS.items()) + " (default all three)")
    p.add_argument("--top", type=int, default=10, help="hotspots to list (default 10)")
    p.add_argument("--keep", action="store_true", help="keep the work dir (kept anyway on failure)")
    p.add_argument("--rev", default="", help="bench akod as of this git revision (git archive into a temp dir, "
                   "put first on the daemon's PYTHONPATH) instead of the working tree")
    p.add_argument("--quiet-wait", type=float, default=120.0,
                   help="first wait up to this many seconds for the machine to be idle (default 120; 0: don't)")
    args = p.parse_args(argv)
    if args.services < 1 or args.rounds < 1 or args.workers < 1:
        p.error("--services, --rounds and --workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from akod.devenv.apiserver import KubeApiServer, ensure_binaries

    workdir = Path(tempfile.mkdtemp(prefix="akod-bench-l4-"))
    if args.rev:
        checkout = workdir / "akod-src"
        checkout.mkdir()
        archive = subprocess.run(["git", "archive", args.rev, "akod"], cwd=REPO, capture_output=True, check=False)
        if archive.returncode != 0:
            print(f"bench/l4: git archive {args.rev}: {archive.stderr.decode(errors='replace').strip()}",
                  file=sys.stderr)
            return 2
        subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive.stdout, check=True)
        os.environ["PYTHONPATH"] = ":".join(p for p in (str(checkout), os.environ.get("PYTHONPATH", "")) if p)
        os.environ["AKOD_BENCH_REV"] = subprocess.run(["git", "rev-parse", "--short", args.rev], cwd=REPO,
                                                      capture_output=True, text=True).stdout.strip()
        say(f"akod as of {args.rev} ({os.environ['AKOD_BENCH_REV']}), from {checkout}")
    compile_akod(*([checkout / "akod"] if args.rev else []))
    if args.quiet_wait > 0:
        busy = asyncio.run(wait_quiet(timeout=args.quiet_wait))
        if busy >= 0.25:
            say(f"WARNING: the machine is busy ({busy:.2f} cores) with something else; figures will be disturbed")
    say("kube-apiserver 1.20.2 + etcd (built once, then cached)")
    ensure_binaries()
    began = time.monotonic()
    ok = False
    try:
        with KubeApiServer() as kube:
            say(f"kube-apiserver ready at {kube.url}")
            kube_pids = [p.pid for p in (getattr(kube, "_apiserver", None), getattr(kube, "_etcd", None)) if p]
            access = KubeAccess(url=kube.url, token=kube.token, ca_file=str(kube.ca_file))
            code = asyncio.run(bench(args, kubeconfig=kube.kubeconfig, kube_pids=kube_pids, workdir=workdir,
                                     access=access))
        ok = True
    except HarnessError as exc:
        print(f"bench/l4 failed: {exc}\n(work dir kept: {workdir})", file=sys.stderr)
        return 1
    finally:
        if ok and not args.keep and args.profile == "none":
            shutil.rmtree(workdir, ignore_errors=True)
    say(f"bench/l4 took {time.monotonic() - began:.0f}s in all")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
