"""The fair L4 baseline: a bare client doing exactly the work akod must do for a cold L4 sync, and no more.

Issue 12: the old baseline only POSTed the Avi objects, while akod also writes every Service's
status back to Kubernetes. This client does, per Service (one "key"), what akod's L4 family does:

1. the Avi POSTs akod stored in `avi_desired` (vsvip, pools, l4policyset, virtualservice), in
   akod's order, with the same concurrency of controller calls (`[api] workers`) and as many keys
   in flight as akod's engine runs (`workers * KEYS_PER_CALL_SLOT`);
2. one JSON merge patch of the Service's status subresource carrying `status.loadBalancer` and
   the FQDN-map annotation (the bodies akod wrote, captured from Kubernetes after akod's round);
3. optionally (`events=True`) the `Synced` Event akod posts when a Service gets its VIP.

It speaks plain aiohttp to both servers (Basic auth to the controller, the admin's bearer token
to the apiserver), with no model classes, no state database and no watches: what remains of
akod's time over it is akod's own overhead (start-up, informers, translation, store, the watch
events its own patches cause). The captured write-back bodies are the same size and shape as
akod's, so the apiserver does the same work for them.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from akod.devenv.controller import api_headers
from bench.common import MachineCpu, process_cpu

KEYS_PER_CALL_SLOT = 2  # as akod.daemon.service: the engine runs 2 keys per controller call slot
FQDN_MAP_ANNOTATION = "ako.vmware.com/host-fqdn-vs-uuid-map"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class KubeAccess:
    """How the baseline reaches the apiserver: its URL, the admin token, the CA of its certificate."""

    url: str
    token: str
    ca_file: str


@dataclass(frozen=True)
class WriteBack:
    """What akod wrote back for one Service: status ingress, FQDN-map annotation; its `Synced` message."""

    ingress: tuple[Mapping[str, Any], ...]
    fqdn_map: str | None
    event: str
    uid: str


@dataclass
class BaselineRun:
    seconds: float = 0.0
    client_cpu: float = 0.0
    emulator_cpu: float = 0.0
    kube_cpu: float = 0.0
    load: dict[str, float] = field(default_factory=dict)
    posts: int = 0
    patches: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)
    virtual_services: int = 0


async def capture_writeback(core: Any, namespace: str) -> dict[str, WriteBack]:
    """{service name: what akod wrote back}, read from Kubernetes after an akod round."""
    services = (await core.list_namespaced_service(namespace)).items
    out: dict[str, WriteBack] = {}
    for svc in services:
        lb = svc.status.load_balancer.ingress if svc.status and svc.status.load_balancer else None
        if not lb:
            continue
        ingress = tuple({k: v for k, v in (("ip", i.ip), ("hostname", i.hostname)) if v} for i in lb)
        out[svc.metadata.name] = WriteBack(ingress=ingress,
                                           fqdn_map=(svc.metadata.annotations or {}).get(FQDN_MAP_ANNOTATION),
                                           event=synced_message(svc, ingress), uid=svc.metadata.uid)
    return out


def synced_message(svc: Any, ingress: Sequence[Mapping[str, Any]]) -> str:
    """A message of the shape and length of akod's (akod.sync.families.l4 `Synced`)."""
    ips = ", ".join(str(i["ip"]) for i in ingress if i.get("ip"))
    return f"Added virtualservice <cluster>--{svc.metadata.namespace}-{svc.metadata.name} for " \
           f"{svc.metadata.name} with VIP {ips}"


def event_body(*, namespace: str, name: str, uid: str, message: str) -> dict[str, Any]:
    """The body of akod's `Synced` Event (akod.kube.events.post_event)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {"name": f"{name}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": {"kind": "Service", "name": name, "namespace": namespace, "uid": uid, "apiVersion": "v1"},
        "reason": "Synced", "message": message, "type": "Normal", "source": {"component": "akod"},
        "reportingComponent": "akod", "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
    }


async def run_baseline(*, url: str, emulator_pid: int, pids: list[int], kube_pids: Sequence[int],
                       groups: Sequence[tuple[str, Sequence[tuple[str, dict[str, Any]]]]],
                       concurrency: int, namespace: str = "", kube: KubeAccess | None = None,
                       writeback: Mapping[str, WriteBack] | None = None, events: bool = False) -> BaselineRun:
    """Each group is (service name, its Avi bodies in order). Without `kube`: the Avi POSTs only."""
    result = BaselineRun()
    avi_slots = asyncio.Semaphore(concurrency)
    ctx = ssl.create_default_context(cafile=kube.ca_file) if kube else None
    async with aiohttp.ClientSession(headers=api_headers(), connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=60)) as http, \
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {kube.token}"} if kube else {},
                                  connector=aiohttp.TCPConnector(limit=0, ssl=ctx if ctx else True),
                                  timeout=aiohttp.ClientTimeout(total=60)) as k8s:
        pending = iter(groups)

        async def write_back(name: str) -> None:
            assert kube is not None and writeback is not None
            wb = writeback.get(name)
            if wb is None:
                result.errors.append(f"no write-back captured for Service {name}")
                return
            body = {"metadata": {"annotations": {FQDN_MAP_ANNOTATION: wb.fqdn_map}},
                    "status": {"loadBalancer": {"ingress": [dict(i) for i in wb.ingress]}}}
            path = f"{kube.url}/api/v1/namespaces/{namespace}/services/{name}/status"
            async with k8s.patch(path, json=body, headers={"Content-Type": MERGE_PATCH}) as resp:
                await resp.read()
                result.patches += 1
                if resp.status != 200:
                    result.errors.append(f"PATCH {path}: {resp.status}")
                    return
            if events and wb.event:
                async with k8s.post(f"{kube.url}/api/v1/namespaces/{namespace}/events",
                                    json=event_body(namespace=namespace, name=name, uid=wb.uid,
                                                    message=wb.event)) as resp:
                    await resp.read()
                    result.events += 1
                    if resp.status != 201:
                        result.errors.append(f"POST Event for {name}: {resp.status}")

        async def worker() -> None:
            for name, bodies in pending:
                ok = True
                for obj_type, body in bodies:
                    async with avi_slots, http.post(f"{url}/api/{obj_type}", json=body) as resp:
                        text = await resp.text()
                        result.posts += 1
                        if resp.status not in (200, 201):
                            result.errors.append(f"POST {obj_type} {body.get('name')}: {resp.status} {text[:200]}")
                            ok = False
                            break  # the rest of this key depends on it
                if ok and kube is not None:
                    await write_back(name)

        emu_cpu = process_cpu(emulator_pid)["total"]
        kube_cpu = sum(process_cpu(p)["total"] for p in kube_pids)
        own_cpu = time.process_time()
        machine = MachineCpu(pids)
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency * KEYS_PER_CALL_SLOT)))
        result.seconds = time.monotonic() - started
        result.load = machine.sample()
        result.client_cpu = time.process_time() - own_cpu
        result.emulator_cpu = process_cpu(emulator_pid)["total"] - emu_cpu
        result.kube_cpu = sum(process_cpu(p)["total"] for p in kube_pids) - kube_cpu
    return result
