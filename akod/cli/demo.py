"""`akod demo`: the seed scenario on this machine, end to end, with a readable summary.

It starts a real kube-apiserver + etcd (built once from Debian packages and cached), the Avi
controller emulator with the seed fixtures, creates the seed's three Nodes, its two LoadBalancer
Services and two Ingresses (hackazon over plain HTTP, kuard over TLS with a certificate made on
the spot), runs `akod run` as a separate process exactly as systemd would, waits until it is in
sync, and prints the static routes it made in VRF_AZ1 next to a hand-made route it left alone, the
Services' VIPs, and how the controller's data plane would route each Ingress host. Everything is torn down at the
end; the config, state database and daemon log stay in a temporary folder for a look.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from akod.cli.common import table
from akod.cli.status import fetch_status, summary

SEED_NODES = [
    ("site1-az1-k8s-master01", "10.10.30.11", "10.34.0.0/24"),
    ("site1-az1-k8s-worker01", "10.10.30.12", "10.34.1.0/24"),
    ("site1-az1-k8s-worker02", "10.10.30.13", "10.34.2.0/24"),
]
SEED_SERVICES = [("hackazon", 80, ["10.34.1.10"]), ("kuard", 8080, ["10.34.1.11", "10.34.2.12"])]
SEED_INGRESSES = [("hackazon", "hackazon.avi.iberia.local", 80, False), ("kuard", "kuard.avi.iberia.local", 8080, True)]
HAND_MADE = {"route_id": "hand-made-1", "prefix": {"ip_addr": {"addr": "192.168.50.0", "type": "V4"}, "mask": 24},
             "next_hop": {"addr": "10.10.25.1", "type": "V4"}}


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def demo() -> int:
    from akod.devenv.apiserver import KubeApiServer, ensure_binaries

    say("kube-apiserver 1.20.2 + etcd from Debian packages (built once, then cached)")
    ensure_binaries()
    workdir = Path(tempfile.mkdtemp(prefix="akod-demo-"))
    with KubeApiServer() as kube:
        say(f"kube-apiserver ready at {kube.url}")
        return asyncio.run(_demo(workdir=workdir, kubeconfig=kube.kubeconfig))


async def _demo(*, workdir: Path, kubeconfig: Path) -> int:
    from kubernetes_asyncio import client, config

    from akod.emulator.server import EmulatorServer

    async with EmulatorServer(fixtures="seed", strict=True) as emu:
        say(f"Avi controller emulator (seed fixtures, strict) at {emu.url}")
        avi = _Avi(emu.url)
        vrf = await avi.one("vrfcontext", "VRF_AZ1")
        await avi.call("PATCH", f"/api/vrfcontext/{vrf['uuid']}", {"add": {"static_routes": [HAND_MADE]}})
        api = await config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
        async with api:
            core = client.CoreV1Api(api)
            return await _run(workdir=workdir, kubeconfig=kubeconfig, emu=emu, avi=avi, core=core,
                              net=client.NetworkingV1Api(api))


async def _run(*, workdir: Path, kubeconfig: Path, emu: Any, avi: "_Avi", core: Any, net: Any) -> int:
    for name, ip, cidr in SEED_NODES:
        await core.create_node({"metadata": {"name": name}, "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
        await core.patch_node_status(name, {"status": {"addresses": [{"type": "InternalIP", "address": ip}]}})
    say("created the seed's nodes: " + ", ".join(n for n, _, _ in SEED_NODES))
    for name, port, pods in SEED_SERVICES:
        await core.create_namespaced_service("default", {
            "metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": port, "targetPort": port}]}})
        await core.create_namespaced_endpoints("default", {
            "metadata": {"name": name},
            "subsets": [{"addresses": [{"ip": ip} for ip in pods], "ports": [{"name": "http", "port": port}]}]})
    say("created the seed's LoadBalancer Services: hackazon (1 pod), kuard (2 pods)")
    await _create_ingresses(core=core, net=net)
    say("created the Ingresses: hackazon.avi.iberia.local (HTTP), kuard.avi.iberia.local (TLS, Secret kuard-tls)")
    port = _free_port()
    cfg = _write_config(workdir=workdir, kubeconfig=kubeconfig, controller=emu.url, port=port)
    log_path = workdir / "akod.log"
    say(f"starting: akod run --config {cfg}")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "akod", "run", "--config", str(cfg)],
                                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        status = await _wait_in_sync(proc=proc, port=port, timeout=60)
        print()
        print(summary(status))
        print()
        routes = (await avi.one("vrfcontext", "VRF_AZ1")).get("static_routes") or []
        rows = [[r["route_id"], f"{r['prefix']['ip_addr']['addr']}/{r['prefix']['mask']}", r["next_hop"]["addr"],
                 ",".join(f"{lb['key']}={lb.get('value', '')}" for lb in r.get("labels") or []) or "-"]
                for r in routes]
        say("static routes in VRF VRF_AZ1 on the controller")
        print(table(rows, header=["route_id", "prefix", "next hop", "labels"]))
        print()
        for line in log_path.read_text().splitlines():
            if "Setting VRF" in line or "Number of static routes" in line:
                print("    log: " + line)
        print()
        say("virtual services on the controller, and the Services' EXTERNAL-IP in Kubernetes")
        rows = []
        for name, _, _ in SEED_SERVICES:
            vs_name = f"S1-AZ1--default-{name}"
            vsvip = await avi.one("vsvip", vs_name)
            vip = ",".join(v["ip_address"]["addr"] for v in vsvip.get("vip") or [] if v.get("ip_address"))
            pools = (await avi.call("GET", f"/api/pool?name.contains={vs_name}-"))["results"]
            members = " ".join(f"{s['ip']['addr']}:{s['port']}" for p in pools for s in p.get("servers") or [])
            svc = await core.read_namespaced_service(name, "default")
            ingress = svc.status.load_balancer.ingress or []
            external = ",".join(f"{i.ip} ({i.hostname})" for i in ingress)
            rows.append([vs_name, vip, members, external])
        print(table(rows, header=["virtual service", "VIP", "pool members", "EXTERNAL-IP (hostname)"]))
        print()
        say("Ingress hosts: how the controller's data plane routes them (the emulator's /_emulator/route)")
        print(table(await _ingress_rows(avi=avi, net=net),
                    header=["Ingress status (host, VIP)", "request", "served by", "pool members / redirect"]))
    finally:
        code = await _stop(proc)
    say(f"akod stopped (exit {code}); config, state.db and akod.log are in {workdir}")
    return 0 if code == 0 else 1


async def _create_ingresses(*, core: Any, net: Any) -> None:
    from akod.devenv.certs import self_signed

    await net.create_ingress_class({"metadata": {"name": "avi-lb"}, "spec": {"controller": "ako.vmware.com/avi-lb"}})
    for name, host, port, tls in SEED_INGRESSES:
        spec: dict[str, Any] = {"ingressClassName": "avi-lb", "rules": [{"host": host, "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": name, "port": {"number": port}}}}]}}]}
        if tls:
            cert, key = self_signed(host)
            await core.create_namespaced_secret("default", {
                "metadata": {"name": f"{name}-tls"}, "type": "kubernetes.io/tls",
                "data": {"tls.crt": base64.b64encode(cert.encode()).decode(),
                         "tls.key": base64.b64encode(key.encode()).decode()}})
            spec["tls"] = [{"hosts": [host], "secretName": f"{name}-tls"}]
        await net.create_namespaced_ingress("default", {"metadata": {"name": name}, "spec": spec})


async def _ingress_rows(*, avi: "_Avi", net: Any) -> list[list[str]]:
    rows = []
    for name, host, _, tls in SEED_INGRESSES:
        ing = await net.read_namespaced_ingress(name, "default")
        entries = (ing.status.load_balancer.ingress or []) if ing.status and ing.status.load_balancer else []
        shown = ", ".join(f"{e.hostname} {e.ip}" for e in entries) or "(none)"
        vip = entries[0].ip if entries else ""
        for port in ((80, 443) if tls else (80,)):
            answer = await avi.route(vip=vip, port=port, host=host, path="/")
            if answer.get("redirect"):
                r = answer["redirect"]
                served = f"{r.get('status_code')} -> {r.get('protocol')}:{r.get('port')}"
            else:
                served = " ".join(f"{s['ip']}:{s['port']}" for s in answer.get("servers") or []) or "-"
            via = answer.get("vs") or answer.get("reason", "not served")
            if answer.get("certificate") and port == 443:
                via += f" (cert {answer['certificate']})"
            rows.append([shown, f"{'https' if port == 443 else 'http'}://{host}/", via, served])
    return rows


async def _stop(proc: subprocess.Popen[bytes], *, timeout: float = 15.0) -> int:
    """SIGTERM, then wait without blocking the loop (the emulator runs in this process)."""
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            return proc.wait()
        await asyncio.sleep(0.05)
    return int(proc.returncode)


class _Avi:
    def __init__(self, url: str) -> None:
        self.url = url
        auth = base64.b64encode(b"admin:admin").decode()
        self.headers = {"Authorization": f"Basic {auth}", "X-Avi-Version": "20.1.2", "X-Avi-Tenant": "admin"}

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession() as http:
            async with http.request(method, self.url + path, json=body, headers=self.headers) as resp:
                resp.raise_for_status()
                return await resp.json(content_type=None)

    async def route(self, **query: Any) -> dict[str, Any]:
        """The emulator's routing query (it answers 404 with a reason when nothing serves)."""
        async with aiohttp.ClientSession() as http:
            async with http.get(self.url + "/_emulator/route", params={k: str(v) for k, v in query.items()}) as resp:
                return dict(await resp.json(content_type=None))

    async def one(self, obj_type: str, name: str) -> dict[str, Any]:
        return (await self.call("GET", f"/api/{obj_type}?name={name}"))["results"][0]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_config(*, workdir: Path, kubeconfig: Path, controller: str, port: int) -> Path:
    password = workdir / "password"
    password.write_text("admin\n")
    password.chmod(0o600)
    cfg = workdir / "akod.toml"
    cfg.write_text(f"""# written by `akod demo`: the seed scenario against the local apiserver and emulator
[cluster]
name = "S1-AZ1"
kubeconfig = "{kubeconfig}"

[controller]
host = "{controller}"
version = "20.1.2"
password_file = "{password}"
se_group = "S1-AZ1-SE-Group"

[network]
vip_networks = [{{ name = "AVI_FRONTEND_3025", cidr = "10.10.25.0/24" }}]
default_domain = "avi.iberia.local"

[state]
path = "{workdir / 'state.db'}"

[status]
listen = "127.0.0.1:{port}"
""")
    return cfg


async def _wait_in_sync(*, proc: subprocess.Popen[bytes], port: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"akod exited with {proc.returncode}; see its log")
        try:
            last = await fetch_status(base=f"http://127.0.0.1:{port}", socket_path=None, timeout_s=2)
            if last.get("ready") and last["sync"]["in_sync"]:
                return last
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
            pass
        await asyncio.sleep(0.2)
    raise SystemExit(f"akod was not in sync after {timeout}s: {json.dumps(last)[:500]}")
