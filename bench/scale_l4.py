"""`python -m bench.scale_l4`: akod at 10,000 LoadBalancer Services: cold sync, restart, memory, event latency.

Issue 12, item 2 (first part) and item 3. On a real kube-apiserver 1.20.2 + etcd started with a
wide `--service-node-port-range` (10,000 two-port Services need 20,000 node ports; the default
range has 2,767) and the emulator unpaced, as `bench/l4`:

1. memory growth: akod starts on 1,000 Services, then 2,000 and 7,000 more are created while it
   runs; its resident memory (VmRSS, and the peak VmHWM) once it has synced 1k, 3k and 10k.
2. cold sync of all 10,000 (empty controller, new state database, statuses cleared), timed from
   process start to ready + in sync with 10,000 virtual services; then a warm restart (target
   < 5 s to ready, 0 writes). Peak RSS over the runs (target <= 300 MB).
3. latency, on the warm daemon idle with 10,000 Services loaded: for `--samples` Services one at
   a time, the time from just before the Endpoints PATCH is sent to the first write of one of
   that Service's pools on the controller (the emulator's request log, same clock), p50 / p99
   (target p99 <= 100 ms). Then a burst: 1,000 Endpoints patched at once (50 in flight), each
   change's time to its pool's first write, p50 / p99, and the time until all are written.
4. the fair baseline (`bench.baseline`, as in `bench/l4`: the same Avi POSTs, the same status +
   FQDN-map patches, the same concurrency) for the same 10,000, and the cold-sync ratio.

akod runs with `[sync] enable_events = false`, the configuration the fair baseline matches (the
Normal `Synced` Events are extra work the target does not count; `bench/l4` measures both ways).
Every wait polls against a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from pathlib import Path
from typing import Any

from bench.baseline import KubeAccess, capture_writeback, run_baseline
from bench.common import (Akod, BenchError, Emulator, Kube, kube_pids, machine_info, print_rows, run_on_apiserver,
                          writes_of)
from bench.l4 import PORTS, desired_bodies, run_akod

NODE_PORT_RANGE = "--service-node-port-range=20000-59999"
COLD_RATIO_TARGET = 1.3
WARM_TARGET_S = 5.0
RSS_TARGET_MB = 300.0
P99_TARGET_MS = 100.0
WRITES = ("PUT", "PATCH", "POST")


def say(text: str) -> None:
    print(f"[bench/scale_l4 {time.strftime('%H:%M:%S')}] {text}", flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def pool_uuids(emulator: Emulator, ns: str) -> dict[str, list[str]]:
    """{service name: its pools' uuids}, from pool names `<cluster>--<ns>-<svc>-TCP-<port>`."""
    code, body = await emulator.api.call("GET", "/_emulator/objects?type=pool")
    if code != 200:
        raise BenchError(f"listing pools answered {code}")
    out: dict[str, list[str]] = {}
    for pool in body["results"]:
        name = pool["name"]
        svc = name.split("--", 1)[1].removeprefix(f"{ns}-").rsplit("-", 2)[0]
        out.setdefault(svc, []).append(pool["uuid"])
    return out


async def patch_endpoints(kube: Kube, ns: str, index: int, generation: int) -> float:
    """Change one address of Service `svc-<index>`'s Endpoints; the epoch time just before sending."""
    name = f"svc-{index:05d}"
    addresses = [{"ip": f"10.{60 + generation % 100}.{index // 250}.{index % 250 + 1}"},
                 *({"ip": f"10.40.{(index * 4 + j) // 250}.{(index * 4 + j) % 250 + 1}"} for j in range(1, 4))]
    body = {"subsets": [{"addresses": addresses,
                         "ports": [{"name": f"p{p}", "port": p, "protocol": "TCP"} for p in PORTS]}]}
    t0 = time.time()
    await kube.core.patch_namespaced_endpoints(name, ns, body)
    return t0


async def first_writes(emulator: Emulator, *, since: float, uuids: dict[str, str], timeout: float) -> dict[str, float]:
    """{pool uuid: epoch time of its first write since `since`} for every uuid in `uuids`, polling."""
    found: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    cursor = since
    while len(found) < len(uuids):
        if time.monotonic() > deadline:
            raise BenchError(f"only {len(found)} of {len(uuids)} pool writes seen within {timeout:.0f}s")
        code, entries = await emulator.api.call("GET", f"/_emulator/requests?since={cursor}")
        if code == 200:
            for e in entries:
                cursor = max(cursor, e["t"])
                if e["method"] in WRITES and e["path"].startswith("/api/pool/"):
                    uuid = e["path"].rsplit("/", 1)[1]
                    if uuid in uuids and uuid not in found:
                        found[uuid] = e["t"]
        await asyncio.sleep(0.005)
    return found


async def idle_latency(*, kube: Kube, emulator: Emulator, ns: str, pools: dict[str, list[str]], samples: int,
                       services: int) -> list[float]:
    out: list[float] = []
    step = max(1, services // samples)
    for k in range(samples):
        index = (k * step + 7) % services
        name = f"svc-{index:05d}"
        t0 = await patch_endpoints(kube, ns, index, generation=1)
        seen = await first_writes(emulator, since=t0, uuids={u: name for u in pools[name]}, timeout=20)
        out.append((min(seen.values()) - t0) * 1000)
        # the next change goes to another Service: no key is synced twice within akod's 0.5 s min interval
    return out


async def burst_latency(*, kube: Kube, emulator: Emulator, ns: str, pools: dict[str, list[str]], count: int,
                        services: int) -> tuple[list[float], float]:
    sem = asyncio.Semaphore(50)
    sent: dict[str, float] = {}
    indexes = [(i * 9 + 3) % services for i in range(count)]
    began = time.time()

    async def one(index: int) -> None:
        async with sem:
            sent[f"svc-{index:05d}"] = await patch_endpoints(kube, ns, index, generation=2)

    watcher = asyncio.ensure_future(first_writes(
        emulator, since=began, uuids={u: f"svc-{i:05d}" for i in indexes for u in pools[f"svc-{i:05d}"]},
        timeout=300))
    await asyncio.gather(*(one(i) for i in indexes))
    seen = await watcher
    by_service: dict[str, float] = {}
    for i in indexes:
        name = f"svc-{i:05d}"
        by_service[name] = min(seen[u] for u in pools[name])
    latencies = [(by_service[n] - sent[n]) * 1000 for n in by_service]
    return latencies, max(by_service.values()) - began


async def bench(args: argparse.Namespace, *, kubeconfig: Path, kube_pids: list[int], workdir: Path,
                access: KubeAccess) -> dict[str, Any]:
    from kubernetes_asyncio import config as kconfig

    n = args.services
    emulator = Emulator()
    pids = [os.getpid(), emulator.proc.pid, *kube_pids]
    api = await kconfig.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    out: dict[str, Any] = {"services": n, "rss": []}
    try:
        async with api:
            kube = Kube(api, concurrency=50)
            await emulator.reset()
            await kube.seed_nodes()
            ns = f"scale-{secrets.token_hex(3)}"
            await kube.namespace(ns)

            # 1. memory growth, akod running while Services are added
            stages = [s for s in (1000, 3000, n) if s <= n]
            akod = Akod(workdir=workdir / "staged", kubeconfig=kubeconfig, controller_url=emulator.url, events=False)
            created = 0
            try:
                for stage in stages:
                    began = time.monotonic()
                    await kube.create_services(ns, stage - created, ports=PORTS, endpoints=4, start=created)
                    say(f"created Services {created}..{stage - 1} ({time.monotonic() - began:.0f}s)")
                    created = stage
                    if not akod.started_at:
                        akod.start()
                    await akod.wait_synced(emulator=emulator, virtual_services=stage, timeout=args.timeout)
                    out["rss"].append((stage, akod.rss_mb(), akod.peak_rss_mb()))
                    say(f"akod synced {stage}: RSS {akod.rss_mb():.0f} MB, peak {akod.peak_rss_mb():.0f} MB")
                await akod.astop(timeout=60)
            finally:
                await akod.aclose()

            # 2. cold sync of all, then a warm restart
            await emulator.reset()
            began = time.monotonic()
            cleared = await kube.clear_statuses(ns)
            say(f"cleared {cleared} statuses ({time.monotonic() - began:.0f}s); cold sync of {n}")
            akod = Akod(workdir=workdir / "cold", kubeconfig=kubeconfig, controller_url=emulator.url, events=False)
            run = await run_akod(akod=akod, emulator=emulator, kube=kube, namespace=ns, services=n,
                                 timeout=args.timeout, pids=pids)
            out["cold"] = run
            say(f"cold {run.cold_s:.1f}s ({run.cold_writes} writes), warm restart {run.warm_s:.1f}s "
                f"({run.warm_writes} writes), peak RSS {max(run.cold_rss_mb, run.warm_rss_mb):.0f} MB")

            # 3. latency on the warm daemon, idle with everything loaded
            akod = Akod(workdir=workdir / "cold", kubeconfig=kubeconfig, controller_url=emulator.url, events=False)
            try:
                akod.start()
                await akod.wait_synced(emulator=emulator, virtual_services=n, timeout=args.timeout)

                async def checked_once() -> bool:  # idle: the drift check a start runs at once is over
                    return bool((await akod.status())["drift"].get("checks", 0) >= 1)

                await akod.wait_for(checked_once, timeout=args.timeout, interval=0.5, what="the first drift check")
                before = writes_of(await emulator.api.stats())
                pools = await pool_uuids(emulator, ns)
                out["idle"] = await idle_latency(kube=kube, emulator=emulator, ns=ns, pools=pools,
                                                 samples=args.samples, services=n)
                say(f"idle latency p50 {pct(out['idle'], 0.5):.0f} ms, p99 {pct(out['idle'], 0.99):.0f} ms")
                out["burst"], out["burst_s"] = await burst_latency(kube=kube, emulator=emulator, ns=ns, pools=pools,
                                                                   count=args.burst, services=n)
                say(f"burst of {args.burst}: p50 {pct(out['burst'], 0.5):.0f} ms, p99 "
                    f"{pct(out['burst'], 0.99):.0f} ms, all written {out['burst_s']:.1f}s after the first PATCH")
                await akod.wait_in_sync(timeout=args.timeout)
                out["latency_writes"] = writes_of(await emulator.api.stats()) - before
                out["latency_rss"] = akod.peak_rss_mb()
                await akod.astop(timeout=60)
            finally:
                await akod.aclose()

            # 4. the fair baseline for the same Services
            groups = desired_bodies(akod.state)
            writeback = await capture_writeback(kube.core, ns)
            await emulator.reset()
            await kube.clear_statuses(ns)
            say(f"fair baseline: {sum(len(g) for _, g in groups)} POSTs + {len(writeback)} status patches")
            base = await run_baseline(url=emulator.url, emulator_pid=emulator.proc.pid, pids=pids,
                                      kube_pids=kube_pids, groups=groups, concurrency=8, namespace=ns, kube=access,
                                      writeback=writeback)
            if base.errors:
                say(f"baseline: {len(base.errors)} errors, first: {base.errors[0]}")
            out["baseline"] = base
            say(f"fair baseline {base.seconds:.1f}s")
    finally:
        await emulator.aclose()
        emulator.close()
    return out


def report(args: argparse.Namespace, out: dict[str, Any]) -> None:
    def mark(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    run = out["cold"]
    base = out["baseline"]
    ratio = run.cold_s / base.seconds
    peak = max([run.cold_rss_mb, run.warm_rss_mb, out.get("latency_rss", 0.0), *(p for _, _, p in out["rss"])])
    info = machine_info()
    print()
    print(f"bench/scale_l4: {out['services']} LoadBalancer Services x {len(PORTS)} ports x 4 endpoints, unpaced, "
          f"[sync] enable_events = false; {info['nproc']} CPUs ({info['cpu']}), akod {info['akod']}")
    rows = [
        ("cold sync (start -> ready + in sync)", f"{run.cold_s:.1f} s",
         f"{run.cold_writes} writes; start -> first write {run.startup_s:.1f} s; CPU akod "
         f"{run.cold_cpu.get('total', 0):.0f} s (main thread {run.cold_cpu.get('main', 0):.0f}), emulator "
         f"{run.cold_emulator_cpu:.0f} s, apiserver + etcd {run.cold_kube_cpu:.0f} s"),
        ("fair baseline (same POSTs + status patches)", f"{base.seconds:.1f} s",
         f"{base.posts} POSTs, {base.patches} patches, {len(base.errors)} errors; CPU client {base.client_cpu:.0f} s"),
        ("cold sync ratio akod / fair baseline", f"{ratio:.2f}", f"target <= {COLD_RATIO_TARGET} "
                                                                   f"{mark(ratio <= COLD_RATIO_TARGET)}"),
        ("CPU stolen by the hypervisor: cold sync / baseline", f"{run.cold_load.get('steal', 0):.2f} / "
         f"{base.load.get('steal', 0):.2f}", "cores on average (the VM's speed varies; only a ratio within a run "
                                             "compares)"),
        ("warm restart to ready + in sync", f"{run.warm_s:.1f} s",
         f"target < {WARM_TARGET_S:g} s {mark(run.warm_s < WARM_TARGET_S)}"),
        ("warm restart writes", f"{run.warm_writes}", f"target 0 {mark(run.warm_writes == 0)}"),
        ("peak RSS (VmHWM, all runs)", f"{peak:.0f} MB", f"target <= {RSS_TARGET_MB:g} MB "
                                                        f"{mark(peak <= RSS_TARGET_MB)}"),
    ]
    rows += [(f"RSS once {stage} are synced (akod running while they were added)", f"{rss:.0f} MB",
              f"peak so far {hwm:.0f} MB") for stage, rss, hwm in out["rss"]]
    idle, burst = out["idle"], out["burst"]
    rows += [
        (f"idle latency, Endpoints change -> first pool write ({len(idle)} samples)",
         f"p50 {pct(idle, 0.5):.0f} ms", f"p99 {pct(idle, 0.99):.0f} ms, max {max(idle):.0f} ms; target p99 <= "
         f"{P99_TARGET_MS:g} ms {mark(pct(idle, 0.99) <= P99_TARGET_MS)}"),
        ("coalescing window in those figures", "0 ms",
         "each sample is a Service not synced in the last 0.5 s: akod's only deliberate delay (KeyQueue "
         "min_interval_s = 0.5 s between two starts of one key) does not apply"),
        (f"burst of {len(burst)} Endpoints changes (50 PATCHes in flight)", f"p50 {pct(burst, 0.5):.0f} ms",
         f"p99 {pct(burst, 0.99):.0f} ms; all written {out['burst_s']:.1f} s after the first PATCH"),
        ("writes during the latency runs", f"{out['latency_writes']}",
         f"{len(idle)} + {len(burst)} Services changed, 2 pools each"),
    ]
    print_rows(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.scale_l4", description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=10000)
    p.add_argument("--samples", type=int, default=200, help="idle latency samples (default 200)")
    p.add_argument("--burst", type=int, default=1000, help="Endpoints changes in the burst (default 1000)")
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    args.burst = min(args.burst, args.services)
    args.samples = min(args.samples, args.services)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()

    async def body(kube: Any, workdir: Path) -> dict[str, Any]:
        access = KubeAccess(url=kube.url, token=kube.token, ca_file=str(kube.ca_file))
        return await bench(args, kubeconfig=kube.kubeconfig, kube_pids=kube_pids(kube), workdir=workdir,
                           access=access)

    out = run_on_apiserver("bench/scale_l4", body, keep=args.keep, extra_args=[NODE_PORT_RANGE], say=say)
    if out is None:
        return 1
    report(args, out)
    say(f"took {time.monotonic() - began:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
