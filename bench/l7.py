"""`python -m bench.l7`: how close akod's L7 sync gets to the controller's own pace.

The workload of AKO's PR #1640 (issue 4 g): 1,000 Ingresses, each with 1 host and 3 paths, over
100 backend Services, against the emulator paced like a real controller (`rate_limit` 32 req/s,
30 ms per write) with akod's `[api] rate = 30`. At that pace the controller is the bottleneck, so
the floor is the number of write calls akod made divided by 30 per second; the figure of merit is
total time to converge / floor (target <= 1.15). AKO reported about 7 minutes for this workload.

1. A real kube-apiserver 1.20.2 + etcd; the emulator (own process, seed fixtures, VIP network grown
   to 10.10.0.0/16, the pacing above); 3 Nodes; 100 ClusterIP Services with 4 endpoints each.
2. akod starts (`[api] rate = 30`, `burst = 30`) and gets ready and in sync (nothing to do yet).
3. The 1,000 Ingresses are created (20 at a time, as `kubectl apply` of a big manifest would).
   Converged = every Ingress shows its host in its status, the emulator holds the 3,000 pools,
   and akod says in sync. Time = first create -> converged.
4. Then a warm restart: writes (target 0) and time to ready + in sync.

Every wait polls against a deadline; nothing sleeps a fixed time.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from akod.devenv.errors import HarnessError
from akod.devenv.seed import create_ingress_class
from bench.common import (Akod, BenchError, Emulator, Kube, compile_akod, ingresses_with_status,
                          machine_info, writes_by_type, writes_of)

NAMESPACE = "bench-l7"
RATE = 30.0
PACE = {"rate_limit": {"rate": 32, "burst": 32}, "latency_ms": {"write": 30, "read": 0}}


def say(text: str) -> None:
    print(f"[bench/l7 {time.strftime('%H:%M:%S')}] {text}", flush=True)


def ingress_body(i: int, *, backends: int) -> dict[str, Any]:
    paths = [{"path": f"/{p}", "pathType": "Prefix", "backend": {"service": {
        "name": f"svc-{(i + k) % backends:03d}", "port": {"number": 80}}}} for k, p in enumerate(("a", "b", "c"))]
    return {"metadata": {"name": f"ing-{i:04d}"},
            "spec": {"ingressClassName": "avi-lb", "rules": [{"host": f"app-{i:04d}.avi.iberia.local",
                                                              "http": {"paths": paths}}]}}


async def create_ingresses(net: Any, *, count: int, backends: int, concurrency: int = 20) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await net.create_namespaced_ingress(NAMESPACE, ingress_body(i, backends=backends))

    await asyncio.gather(*(one(i) for i in range(count)))


async def bench(args: argparse.Namespace, *, kubeconfig: Path, workdir: Path) -> int:
    from kubernetes_asyncio import client, config

    api = await config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    kube = Kube(api)
    net = client.NetworkingV1Api(api)
    emulator = Emulator()
    # akod paced like the controller: [api] rate = 30, burst = 30
    akod = Akod(workdir=workdir / "akod", kubeconfig=kubeconfig, controller_url=emulator.url, workers=8, burst=30,
                rate=RATE)
    try:
        await emulator.reset()
        await emulator.api.faults(PACE)
        await kube.seed_nodes()
        await kube.namespace(NAMESPACE)
        await create_ingress_class(net)
        await kube.create_backends(NAMESPACE, args.backends)
        say(f"{args.backends} backend Services ready; starting akod ([api] rate = {RATE:g})")
        akod.start()
        await akod.wait_in_sync(timeout=120)
        before = await emulator.api.stats()
        say(f"creating {args.ingresses} Ingresses x 3 paths")
        began = time.monotonic()
        await create_ingresses(net, count=args.ingresses, backends=args.backends)
        created = time.monotonic() - began

        async def converged() -> bool:
            akod.assert_running()
            if await emulator.api.count("pool") < 3 * args.ingresses:
                return False
            if await akod.in_sync_status() is None:
                return False
            return bool(await ingresses_with_status(net, NAMESPACE) == args.ingresses)

        await akod.wait_for(converged, timeout=args.ingresses * 3, interval=0.5, what="every Ingress served")
        total = time.monotonic() - began
        after = await emulator.api.stats()
        writes = writes_of(after) - writes_of(before)
        floor = writes / RATE
        by_type = writes_by_type(before, after)
        throttled = int(after.get("by_status", {}).get("429", 0)) - int(before.get("by_status", {}).get("429", 0))
        rss = akod.peak_rss_mb()
        say("warm restart")
        if await akod.astop() != 0:
            raise BenchError("akod did not exit 0 on SIGTERM")
        warm_before = writes_of(await emulator.api.stats())
        akod.start()
        warm_began = time.monotonic()
        await akod.wait_in_sync(timeout=300)
        warm = time.monotonic() - warm_began
        warm_writes = writes_of(await emulator.api.stats()) - warm_before
        await akod.astop()
    finally:
        await akod.aclose()
        emulator.close()
        await emulator.aclose()
        await api.close()
    ratio = total / floor if floor else float("inf")
    info = machine_info()
    print()
    print(f"bench/l7: {args.ingresses} Ingresses x 1 host x 3 paths, {args.backends} backend Services")
    print(f"machine: {info.get('cpu', '?')}, {info.get('nproc', '?')} CPUs; emulator paced at 32 req/s, 30 ms/write; "
          f"akod [api] rate = {RATE:g}")
    print(f"  Ingresses created in            {created:8.1f} s")
    print(f"  converged (first create -> all) {total:8.1f} s   (AKO PR #1640: ~420 s)")
    print(f"  write calls to the controller   {writes:8d}     {', '.join(f'{k} {v}' for k, v in by_type.items())}")
    print(f"  floor = writes / {RATE:g} per s       {floor:8.1f} s")
    print(f"  ratio converged / floor         {ratio:8.3f}     target <= 1.15 {'PASS' if ratio <= 1.15 else 'MISS'}")
    print(f"  429 answers (akod over the pace) {throttled:7d}")
    print(f"  warm restart: writes {warm_writes} (target 0 {'PASS' if warm_writes == 0 else 'MISS'}), "
          f"ready + in sync in {warm:.1f} s")
    print(f"  peak RSS of akod                {rss:8.0f} MB")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.l7", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ingresses", type=int, default=1000)
    parser.add_argument("--backends", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, state database)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from akod.devenv.apiserver import KubeApiServer, ensure_binaries

    workdir = Path(tempfile.mkdtemp(prefix="akod-bench-l7-"))
    ensure_binaries()
    compile_akod()
    ok = False
    try:
        with KubeApiServer() as kube:
            say(f"kube-apiserver ready at {kube.url}")
            code = asyncio.run(bench(args, kubeconfig=kube.kubeconfig, workdir=workdir))
        ok = True
    except HarnessError as exc:
        print(f"bench/l7 failed: {exc}\n(work dir kept: {workdir})", file=sys.stderr)
        return 1
    finally:
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
