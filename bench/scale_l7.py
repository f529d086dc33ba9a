"""`python -m bench.scale_l7`: AKO's worst reported boot (AKO PR #1161: 36 minutes), at the controller's pace.

Issue 12, item 2 (second part). The cluster of that report: 193 Nodes (one static route each)
and 9,000 Ingresses x 1 host x 3 paths over 1,000 backend Services (4 endpoints each), all
present before akod starts, as at a boot. The emulator is paced like a real controller
(`rate_limit` 32 req/s, 30 ms per write) and akod runs with `[api] rate = 30`, `burst = 30`, so
the controller is the bottleneck and no client can beat the floor = write calls / 30 per second.

1. boot: akod starts on an empty controller and a new state database; converged = the emulator
   holds the 27,000 pools, every Ingress shows its VIP in its status, akod says in sync. Figures:
   converged time, writes, floor, converged / floor (target <= 1.05), peak RSS.
2. restart with nothing changed: SIGTERM, start on the same state database; time to ready and
   in sync (target < 10 s) and writes (target 0).
3. restart after 1 % of the Ingresses changed while akod was down: SIGTERM; 90 Ingresses get
   another backend on their path `/a` (a pool's servers change: one pool write each, nothing
   else); start; writes (target: exactly 90, all PUT pool) and time to in sync.

Every wait polls against a deadline; nothing sleeps a fixed time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from akod.devenv.seed import create_ingress_class, create_node
from bench.common import (Akod, BenchError, Emulator, Kube, bounded, ingresses_with_status, machine_info,
                          print_rows, run_on_apiserver, writes_by_type, writes_of)

NAMESPACE = "bench-scale-l7"
RATE = 30.0
PACE = {"rate_limit": {"rate": 32, "burst": 32}, "latency_ms": {"write": 30, "read": 0}}
RATIO_TARGET = 1.05
RESTART_TARGET_S = 10.0


def say(text: str) -> None:
    print(f"[bench/scale_l7 {time.strftime('%H:%M:%S')}] {text}", flush=True)


async def create_nodes(kube: Kube, count: int) -> None:
    async def one(i: int) -> None:
        await create_node(kube.core, name=f"node-{i:03d}", ip=f"10.10.{30 + i // 250}.{i % 250 + 1}",
                          cidrs=[f"10.34.{i}.0/24"])

    await bounded(count, one)


def ingress_body(i: int, *, backends: int, shift: int = 0) -> dict[str, Any]:
    """Ingress i: host app-<i>, paths /a /b /c on three consecutive backends; `shift` moves /a's."""
    paths = [{"path": f"/{p}", "pathType": "Prefix", "backend": {"service": {
        "name": f"svc-{(i + k + (shift if p == 'a' else 0)) % backends:04d}", "port": {"number": 80}}}}
        for k, p in enumerate(("a", "b", "c"))]
    return {"metadata": {"name": f"ing-{i:04d}"},
            "spec": {"ingressClassName": "avi-lb", "rules": [{"host": f"app-{i:04d}.avi.iberia.local",
                                                              "http": {"paths": paths}}]}}


async def create_ingresses(net: Any, *, count: int, backends: int) -> None:
    async def one(i: int) -> None:
        await net.create_namespaced_ingress(NAMESPACE, ingress_body(i, backends=backends))

    await bounded(count, one)


async def bench(args: argparse.Namespace, *, kubeconfig: Path, workdir: Path) -> dict[str, Any]:
    from kubernetes_asyncio import client, config

    api = await config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    kube = Kube(api)
    net = client.NetworkingV1Api(api)
    emulator = Emulator()
    akod = Akod(workdir=workdir / "akod", kubeconfig=kubeconfig, controller_url=emulator.url, workers=8, burst=30,
                rate=RATE)
    out: dict[str, Any] = {}
    pools = 3 * args.ingresses
    try:
        await emulator.reset()
        await emulator.api.faults(PACE)
        await kube.namespace(NAMESPACE)
        await create_ingress_class(net)
        began = time.monotonic()
        await create_nodes(kube, args.nodes)
        await kube.create_backends(NAMESPACE, args.backends, digits=4)
        await create_ingresses(net, count=args.ingresses, backends=args.backends)
        say(f"{args.nodes} Nodes, {args.backends} backends, {args.ingresses} Ingresses x 3 paths created "
            f"({time.monotonic() - began:.0f}s); starting akod ([api] rate = {RATE:g})")

        async def converged() -> bool:
            akod.assert_running()
            if await emulator.api.count("pool") < pools:
                return False
            if await akod.in_sync_status() is None:
                return False
            return bool(await ingresses_with_status(net, NAMESPACE) == args.ingresses)

        # 1. boot
        before = await emulator.api.stats()
        epoch = time.time()
        akod.start()
        out["boot_s"] = await akod.wait_for(lambda: _timed(converged, akod), timeout=args.timeout, interval=2.0,
                                            what="every Ingress served")
        after = await emulator.api.stats()
        out["boot_writes"] = writes_of(after) - writes_of(before)
        out["boot_by_type"] = writes_by_type(before, after)
        out["boot_429"] = int(after.get("by_status", {}).get("429", 0)) - int(before.get("by_status", {}).get("429", 0))
        out["boot_rss"] = akod.peak_rss_mb()
        out["timeline"] = await write_timeline(emulator, since=epoch, dump=workdir / "boot-requests.json")
        say(f"booted in {out['boot_s']:.0f}s, {out['boot_writes']} writes, peak RSS {out['boot_rss']:.0f} MB")
        if await akod.astop(timeout=60) != 0:
            raise BenchError("akod did not exit 0 on SIGTERM")

        # 2. restart, nothing changed
        before = await emulator.api.stats()
        akod.start()
        await akod.wait_ready(timeout=args.timeout)
        out["restart_ready_s"] = time.monotonic() - akod.started_at
        await akod.wait_in_sync(timeout=args.timeout)
        out["restart_s"] = time.monotonic() - akod.started_at
        after = await emulator.api.stats()
        out["restart_writes"] = writes_of(after) - writes_of(before)
        out["restart_by_type"] = writes_by_type(before, after)
        out["restart_rss"] = akod.peak_rss_mb()
        say(f"restart: in sync after {out['restart_s']:.1f}s, {out['restart_writes']} writes")
        await akod.astop(timeout=60)

        # 3. 1 % changed while akod was down
        changed = max(1, args.ingresses // 100)
        step = args.ingresses // changed
        for k in range(changed):
            i = k * step
            await net.replace_namespaced_ingress(f"ing-{i:04d}", NAMESPACE, ingress_body(
                i, backends=args.backends, shift=3))
        before = await emulator.api.stats()
        akod.start()
        await akod.wait_in_sync(timeout=args.timeout)
        out["changed"] = changed
        out["changed_s"] = time.monotonic() - akod.started_at
        after = await emulator.api.stats()
        out["changed_writes"] = writes_of(after) - writes_of(before)
        out["changed_by_type"] = writes_by_type(before, after)
        out["changed_rss"] = akod.peak_rss_mb()
        say(f"restart after {changed} changed: in sync after {out['changed_s']:.1f}s, {out['changed_writes']} writes")
        await akod.astop(timeout=60)
    finally:
        await akod.aclose()
        emulator.close()
        await emulator.aclose()
        await api.close()
    return out


async def write_timeline(emulator: Emulator, *, since: float, dump: Path) -> dict[str, float]:
    """When the boot's controller writes happened (seconds after akod's start, the emulator's log,
    also written to `dump`)."""
    code, entries = await emulator.api.call("GET", f"/_emulator/requests?since={since}")
    if code != 200:
        raise BenchError(f"emulator request log: {code}")
    dump.write_text(json.dumps(entries))
    writes = [e for e in entries if e["method"] in ("POST", "PUT", "PATCH") and e["path"].startswith("/api/")
              and not e["path"].startswith(("/api/login", "/api/logout"))]
    if not writes:
        return {}
    vs = sorted(e["t"] - since for e in writes if e["path"] == "/api/virtualservice")
    return {"first_write_s": writes[0]["t"] - since, "last_write_s": writes[-1]["t"] - since,
            "first_vs_s": vs[0] if vs else 0.0, "last_vs_s": vs[-1] if vs else 0.0}


async def _timed(probe: Any, akod: Akod) -> float | None:
    return time.monotonic() - akod.started_at if await probe() else None


def report(args: argparse.Namespace, out: dict[str, Any]) -> None:
    def mark(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    floor = out["boot_writes"] / RATE
    ratio = out["boot_s"] / floor
    info = machine_info()
    peak = max(out["boot_rss"], out["restart_rss"], out["changed_rss"])
    expected = {"PUT pool": out["changed"]}
    tl = out.get("timeline", {})
    span = tl.get("last_write_s", 0) - tl.get("first_write_s", 0)
    print()
    print(f"bench/scale_l7: {args.nodes} Nodes, {args.ingresses} Ingresses x 3 paths over {args.backends} backends; "
          f"emulator 32 req/s, 30 ms per write; akod [api] rate = {RATE:g}; {info['nproc']} CPUs, akod {info['akod']}")
    rows = [
        ("boot: start -> converged", f"{out['boot_s']:.0f} s", "(AKO PR #1161: 36 minutes)"),
        ("boot: write calls", f"{out['boot_writes']}", ", ".join(f"{k} {v}" for k, v in out["boot_by_type"].items())),
        (f"boot: floor = writes / {RATE:g} per s", f"{floor:.0f} s", ""),
        ("boot: converged / floor", f"{ratio:.3f}", f"target <= {RATIO_TARGET} {mark(ratio <= RATIO_TARGET)}"),
        ("boot: 429 answers (akod over the pace)", f"{out['boot_429']}", ""),
        ("boot: first / last controller write", f"{tl.get('first_write_s', 0):.1f} / {tl.get('last_write_s', 0):.0f} s",
         f"after start; writes between them at {out['boot_writes'] / max(1e-9, span):.1f} per s"),
        ("boot: shard virtual services created", f"{tl.get('first_vs_s', 0):.0f} - {tl.get('last_vs_s', 0):.0f} s",
         f"after start; last write -> converged (Ingress statuses) {out['boot_s'] - tl.get('last_write_s', 0):.1f} s"),
        ("restart, nothing changed: start -> ready (/readyz 200)", f"{out['restart_ready_s']:.1f} s",
         f"target < {RESTART_TARGET_S:g} s {mark(out['restart_ready_s'] < RESTART_TARGET_S)}"),
        ("restart, nothing changed: start -> ready + in sync", f"{out['restart_s']:.1f} s",
         "(in sync: every key synced once, nothing left to write)"),
        ("restart, nothing changed: writes", f"{out['restart_writes']}",
         f"target 0 {mark(out['restart_writes'] == 0)} " + ", ".join(
             f"{k} {v}" for k, v in out["restart_by_type"].items())),
        (f"restart after {out['changed']} Ingresses changed while down: writes", f"{out['changed_writes']}",
         f"expected exactly {', '.join(f'{k} {v}' for k, v in expected.items())}: "
         f"{mark(out['changed_by_type'] == expected)} (got "
         + (", ".join(f"{k} {v}" for k, v in out["changed_by_type"].items()) or "none") + ")"),
        ("restart after the changes: start -> in sync", f"{out['changed_s']:.1f} s", ""),
        ("peak RSS of akod (VmHWM)", f"{peak:.0f} MB",
         f"boot {out['boot_rss']:.0f}, restart {out['restart_rss']:.0f}, after changes {out['changed_rss']:.0f}"
         " (AKO's pod limit: 400 MiB)"),
    ]
    print_rows(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.scale_l7", description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=193)
    p.add_argument("--ingresses", type=int, default=9000)
    p.add_argument("--backends", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=2400.0)
    p.add_argument("--keep", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    out = run_on_apiserver("bench/scale_l7", lambda kube, workdir: bench(args, kubeconfig=kube.kubeconfig,
                                                                          workdir=workdir), keep=args.keep, say=say)
    if out is None:
        return 1
    report(args, out)
    say(f"took {time.monotonic() - began:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
