"""Issue 9 c: an HA pair on one cluster. Exactly one daemon writes; a killed leader is replaced within
30 s with no 409 and no duplicate; a leader paused for 40 s (SIGSTOP) makes no write after the
standby took over, and steps down without exiting when it is resumed (SIGCONT).

Each daemon names itself (`[ha] identity`) and sends it in its User-Agent, so the emulator's request
log says who wrote what.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.e2e.conftest import Controller, Nodes
from tests.e2e.harness import DaemonProcess, eventually

C = "S1-AZ1"
PAUSE_S = 40.0
LEASE = "akod-s1-az1"  # akod-<cluster>, lower case (a Lease's name is a DNS subdomain)


def ha(identity: str) -> str:
    return f'[ha]\nenabled = true\nidentity = "{identity}"\n'


@pytest.fixture
async def lease_namespace(kube_client: client.ApiClient) -> AsyncIterator[str]:
    core = client.CoreV1Api(kube_client)
    with contextlib.suppress(ApiException):
        await core.create_namespace({"metadata": {"name": "avi-system"}})
    coordination = client.CoordinationV1Api(kube_client)
    with contextlib.suppress(ApiException):
        await coordination.delete_namespaced_lease(LEASE, "avi-system")
    yield "avi-system"
    with contextlib.suppress(ApiException):
        await coordination.delete_namespaced_lease(LEASE, "avi-system")


def by(identity: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if f"({identity})" in e.get("client", "")]


async def writes_since(controller: Controller, t: float) -> list[dict[str, Any]]:
    return [w for w in await controller.writes() if w["t"] >= t]


async def vs_exists(controller: Controller, ns: str, name: str) -> bool:
    return await controller.maybe("virtualservice", f"{C}--{ns}-{name}") is not None


async def role(akod: DaemonProcess) -> dict[str, Any]:
    status = await akod.status()
    return {"leader": status["leader"], "holder": status["ha"]["holder"], "ready": status["ready"]}


async def pair(make_daemon: Any) -> tuple[DaemonProcess, DaemonProcess]:
    """jump-a leading and in sync, jump-b a warm standby."""
    a, b = make_daemon("a", extra_config=ha("jump-a")), make_daemon("b", extra_config=ha("jump-b"))
    a.start()
    await a.wait_in_sync()
    b.start()
    await b.wait_ready()
    assert await role(a) == {"leader": True, "holder": "jump-a", "ready": True}
    assert await role(b) == {"leader": False, "holder": "jump-a", "ready": True}
    return a, b


async def test_of_two_daemons_exactly_one_writes(controller: Controller, nodes: Nodes, services: Any,
                                                 make_daemon: Any, kube_namespace: str, lease_namespace: str) -> None:
    await nodes.seed()
    a, b = await pair(make_daemon)
    code, ready = await b.get("/readyz")
    assert code == 200 and ready["reason"].startswith("standby"), ready
    started = time.time()
    for i in range(5):
        await services.create(kube_namespace, f"web-{i}", ports=[(80, "TCP")], endpoints=["10.34.1.10"])

    async def all_served() -> bool:
        return all([await vs_exists(controller, kube_namespace, f"web-{i}") for i in range(5)])

    await eventually(all_served, timeout=30, what="the leader serving the new Services")
    await a.wait_in_sync()
    writes = await writes_since(controller, started)
    assert writes and len(by("jump-a", writes)) == len(writes), writes[:3]
    assert by("jump-b", await controller.writes()) == []  # not one write, ever, from the standby
    assert b.stop() == 0 and a.stop() == 0


async def test_a_killed_leader_is_replaced_within_30_s_with_no_409_and_no_duplicate(
        controller: Controller, nodes: Nodes, services: Any, make_daemon: Any, kube_namespace: str,
        lease_namespace: str) -> None:
    await nodes.seed()
    for i in range(10):
        await services.create(kube_namespace, f"web-{i}", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    a, b = await pair(make_daemon)
    a.kill9()
    killed = time.time()
    await services.create(kube_namespace, "after-kill", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    await eventually(lambda: vs_exists(controller, kube_namespace, "after-kill"), timeout=30, interval=0.2,
                     what="the standby serving a Service created after the leader's death")
    assert time.time() - killed <= 30
    assert (await role(b))["leader"] is True
    await b.wait_in_sync()
    after = await writes_since(controller, killed)
    assert after and len(by("jump-b", after)) == len(after)
    assert [r for r in await controller.requests() if r["t"] >= killed and r["status"] == 409] == []
    for obj_type in ("virtualservice", "vsvip", "pool", "l4policyset"):
        made = await controller.names(obj_type, contains=f"{C}--{kube_namespace}-")
        assert len(made) == len(set(made)) and len(made) >= 11, (obj_type, made)
    assert b.stop() == 0


async def test_a_paused_leader_makes_no_write_after_the_standby_took_over(
        controller: Controller, nodes: Nodes, services: Any, make_daemon: Any, kube_namespace: str,
        lease_namespace: str) -> None:
    await nodes.seed()
    await services.create(kube_namespace, "before", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    a, b = await pair(make_daemon)
    a.signal(signal.SIGSTOP)
    paused = time.monotonic()
    stopped_at = time.time()
    try:
        # While it is paused, work arrives: the standby must take over and do it.
        await services.create(kube_namespace, "during", ports=[(80, "TCP")], endpoints=["10.34.1.11"])
        await services.set_endpoints(kube_namespace, "before", ips=["10.34.1.10", "10.34.1.12"], ports=[(80, "TCP")])
        await eventually(lambda: vs_exists(controller, kube_namespace, "during"), timeout=35, interval=0.2,
                         what="the standby taking over from the paused leader")
        took_over = min(w["t"] for w in by("jump-b", await writes_since(controller, stopped_at)))
        await asyncio.sleep(max(0.0, PAUSE_S - (time.monotonic() - paused)))  # the scenario: paused 40 s
    finally:
        a.signal(signal.SIGCONT)

    async def stepped_down() -> bool:
        return (await role(a))["leader"] is False

    await eventually(stepped_down, timeout=15, what="the resumed old leader standing by")
    await services.create(kube_namespace, "after", ports=[(80, "TCP")], endpoints=["10.34.1.13"])
    await eventually(lambda: vs_exists(controller, kube_namespace, "after"), timeout=30, what="the new leader at work")
    await b.wait_in_sync()
    late = by("jump-a", await writes_since(controller, took_over))
    assert late == [], late  # the paused leader's gate was shut when it woke up
    a.assert_running()  # it stood by; it did not exit
    assert (await role(a)) == {"leader": False, "holder": "jump-b", "ready": True}
    assert a.stop() == 0 and b.stop() == 0
