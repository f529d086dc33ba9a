"""`akod demo`: the seed scenario on this machine, end to end, with a readable summary.

It starts a real kube-apiserver + etcd (built once from Debian packages and cached), the Avi
controller emulator with the seed fixtures, creates the seed's three Nodes, its two LoadBalancer
Services and two Ingresses (hackazon over plain HTTP, kuard over TLS with a certificate made on
the spot), runs `akod run` as a separate process exactly as systemd would, waits until it is in
sync, and prints the static routes it made in VRF_AZ1 next to a hand-made route it left alone, the
Services' VIPs, and how the controller's data plane would route each Ingress host. Everything is torn down at the
end; the config, state database and daemon log stay in a temporary folder for a look.

The scenario, the config and the process handling are the dev harness's (`akod.devenv`), the same
the end-to-end tests and the benchmarks use; what is the demo's own is what it prints.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from kubernetes_asyncio import client, config

from akod.cli.common import table
from akod.cli.status import summary
from akod.devenv.apiserver import KubeApiServer, ensure_binaries
from akod.devenv.config import SeedOptions
from akod.devenv.controller import Controller
from akod.devenv.errors import HarnessError
from akod.devenv.processes import DaemonProcess
from akod.devenv.seed import (
    HAND_MADE_ROUTE,
    SEED_INGRESSES,
    SEED_NODES,
    SEED_SERVICES,
    create_seed_ingresses,
    create_seed_nodes,
    create_seed_services,
)
from akod.emulator.server import EmulatorServer

DEMO_OPTIONS = SeedOptions(comment="written by `akod demo`: the seed scenario against the local apiserver and emulator")


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def demo() -> int:
    say("kube-apiserver 1.20.2 + etcd from Debian packages (built once, then cached)")
    ensure_binaries()
    workdir = Path(tempfile.mkdtemp(prefix="akod-demo-"))
    with KubeApiServer() as kube:
        say(f"kube-apiserver ready at {kube.url}")
        return asyncio.run(_demo(workdir=workdir, kubeconfig=kube.kubeconfig))


async def _demo(*, workdir: Path, kubeconfig: Path) -> int:
    async with EmulatorServer(fixtures="seed", strict=True) as emu:
        say(f"Avi controller emulator (seed fixtures, strict) at {emu.url}")
        avi = Controller(emu.url)
        await avi.add_route(HAND_MADE_ROUTE)
        api = await config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
        async with api:
            return await _run(workdir=workdir, kubeconfig=kubeconfig, avi=avi, core=client.CoreV1Api(api),
                              net=client.NetworkingV1Api(api))


async def _run(*, workdir: Path, kubeconfig: Path, avi: Controller, core: client.CoreV1Api,
               net: client.NetworkingV1Api) -> int:
    await create_seed_nodes(core)
    say("created the seed's nodes: " + ", ".join(n.name for n in SEED_NODES))
    await create_seed_services(core)
    say("created the seed's LoadBalancer Services: hackazon (1 pod), kuard (2 pods)")
    await create_seed_ingresses(core, net)
    say("created the Ingresses: hackazon.avi.iberia.local (HTTP), kuard.avi.iberia.local (TLS, Secret kuard-tls)")
    daemon = DaemonProcess(workdir=workdir, kubeconfig=kubeconfig, controller_url=avi.url, options=DEMO_OPTIONS)
    say(f"starting: akod run --config {daemon.config}")
    daemon.start()
    try:
        try:
            status = await daemon.wait_in_sync(timeout=60, interval=0.2)
        except HarnessError as exc:
            raise SystemExit(f"akod did not get in sync: {exc}") from None
        print()
        print(summary(status))
        print()
        rows = [[r["route_id"], f"{r['prefix']['ip_addr']['addr']}/{r['prefix']['mask']}", r["next_hop"]["addr"],
                 ",".join(f"{lb['key']}={lb.get('value', '')}" for lb in r.get("labels") or []) or "-"]
                for r in await avi.vrf_routes()]
        say("static routes in VRF VRF_AZ1 on the controller")
        print(table(rows, header=["route_id", "prefix", "next hop", "labels"]))
        print()
        for line in daemon.log().splitlines():
            if "Setting VRF" in line or "Number of static routes" in line:
                print("    log: " + line)
        print()
        say("virtual services on the controller, and the Services' EXTERNAL-IP in Kubernetes")
        print(table(await _service_rows(avi=avi, core=core),
                    header=["virtual service", "VIP", "pool members", "EXTERNAL-IP (hostname)"]))
        print()
        say("Ingress hosts: how the controller's data plane routes them (the emulator's /_emulator/route)")
        print(table(await _ingress_rows(avi=avi, net=net),
                    header=["Ingress status (host, VIP)", "request", "served by", "pool members / redirect"]))
    finally:
        code = await _stop(daemon)
    say(f"akod stopped (exit {code}); config, state.db and akod.log are in {workdir}")
    return 0 if code == 0 else 1


async def _service_rows(*, avi: Controller, core: client.CoreV1Api) -> list[list[str]]:
    rows = []
    for svc_seed in SEED_SERVICES:
        vs_name = f"S1-AZ1--default-{svc_seed.name}"
        vsvip = await avi.one("vsvip", vs_name)
        vip = ",".join(v["ip_address"]["addr"] for v in vsvip.get("vip") or [] if v.get("ip_address"))
        pools = await avi.objects("pool", contains=f"{vs_name}-")
        members = " ".join(f"{s['ip']['addr']}:{s['port']}" for p in pools for s in p.get("servers") or [])
        svc = await core.read_namespaced_service(svc_seed.name, "default")
        ingress = svc.status.load_balancer.ingress or []
        external = ",".join(f"{i.ip} ({i.hostname})" for i in ingress)
        rows.append([vs_name, vip, members, external])
    return rows


async def _ingress_rows(*, avi: Controller, net: client.NetworkingV1Api) -> list[list[str]]:
    rows = []
    for seed in SEED_INGRESSES:
        ing = await net.read_namespaced_ingress(seed.name, "default")
        entries = (ing.status.load_balancer.ingress or []) if ing.status and ing.status.load_balancer else []
        shown = ", ".join(f"{e.hostname} {e.ip}" for e in entries) or "(none)"
        vip = entries[0].ip if entries else ""
        for port in ((80, 443) if seed.tls else (80,)):
            _, answer = await avi.route(vip=vip, port=port, host=seed.host, path="/")
            if answer.get("redirect"):
                r = answer["redirect"]
                served = f"{r.get('status_code')} -> {r.get('protocol')}:{r.get('port')}"
            else:
                served = " ".join(f"{s['ip']}:{s['port']}" for s in answer.get("servers") or []) or "-"
            via = answer.get("vs") or answer.get("reason", "not served")
            if answer.get("certificate") and port == 443:
                via += f" (cert {answer['certificate']})"
            rows.append([shown, f"{'https' if port == 443 else 'http'}://{seed.host}/", via, served])
    return rows


async def _stop(daemon: DaemonProcess, *, timeout: float = 15.0) -> int:
    """SIGTERM, then wait without blocking the loop (the emulator runs in this process)."""
    try:
        return await daemon.astop(timeout=timeout)
    except HarnessError as exc:  # it did not stop in time and was killed
        say(str(exc).splitlines()[0])
        return daemon.proc.returncode if daemon.proc is not None else -1
