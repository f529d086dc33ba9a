"""Issue 8, truth in every answer: the licence tier is read from the controller, not assumed, and a
write cut off by a stop is recorded as `unknown` (not "not attempted") and settled at the next start."""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.e2e.conftest import Controller, Nodes
from tests.e2e.harness import eventually

C = "S1-AZ1"


async def set_license_tier(controller: Controller, tier: str) -> None:
    code, config = await controller.call("GET", "/api/systemconfiguration")
    assert code == 200, config
    code, answer = await controller.call("PUT", "/api/systemconfiguration", {**config, "default_license_tier": tier})
    assert code == 200, answer


async def test_the_tcp_profile_follows_the_licence_tier_read_from_the_controller(
        controller: Controller, nodes: Nodes, services: Any, make_daemon: Any, kube_namespace: str) -> None:
    ns = kube_namespace
    await nodes.seed()
    await services.create(ns, "web", ports=[(80, "TCP")], endpoints=["10.34.1.10"])
    for tier, profile in (("ESSENTIALS", "System-TCP-Fast-Path"), ("ENTERPRISE", "System-TCP-Proxy")):
        await set_license_tier(controller, tier)
        akod = make_daemon(f"akod-{tier.lower()}")
        akod.start()
        status = await akod.wait_in_sync()
        assert status["controller"]["license_tier"] == tier
        vs = await controller.one("virtualservice", f"{C}--{ns}-web")
        wanted = await controller.one("networkprofile", profile)
        assert vs["network_profile_ref"].rsplit("/", 1)[-1] == wanted["uuid"], (tier, vs["network_profile_ref"])
        assert akod.stop() == 0


def journal_states(state_db: Any) -> list[tuple[str, str, str]]:
    """(op, obj_type, state) of the L4 keys' journal rows, oldest first."""
    with sqlite3.connect(f"file:{state_db}?mode=ro", uri=True) as db:
        return [(op, obj_type, state) for op, obj_type, state in
                db.execute("SELECT op, obj_type, state FROM journal WHERE key LIKE 'l4:%' ORDER BY id")]


async def test_a_write_cut_off_by_a_stop_is_unknown_and_settled_at_the_next_start(
        controller: Controller, nodes: Nodes, services: Any, make_daemon: Any, kube_namespace: str) -> None:
    ns = kube_namespace
    await nodes.seed()
    akod = make_daemon()
    akod.start()
    await akod.wait_in_sync()
    # Writes now take longer than the stop's grace period (8 s): SIGTERM cuts the VsVip's POST off.
    await controller.faults({"latency_ms": {"write": 12000, "read": 0}})
    await services.create(ns, "slow", ports=[(80, "TCP")], endpoints=["10.34.1.10"])

    async def posting() -> bool:
        return any(r["method"] == "POST" and r["path"] == "/api/vsvip" for r in await controller.requests())

    await eventually(posting, timeout=20, what="the VsVip POST to reach the controller")
    assert akod.stop(timeout=20) == 0
    states = journal_states(akod.state)
    # The last attempt's VsVip POST was cut off in flight by the stop: unknown, not "not attempted".
    # (An earlier attempt that timed out stays `intent`: open, its outcome not known either.)
    last_vsvip = [s for op, obj_type, s in states if op == "POST" and obj_type == "vsvip"][-1]
    assert last_vsvip == "unknown", states
    assert any(s == "superseded" for _, _, s in states), states  # the pools, policy set, VS: never sent
    await controller.faults({"latency_ms": {"write": 0, "read": 0}})
    akod.start()
    await akod.wait_in_sync()
    states = journal_states(akod.state)
    assert all(s not in ("unknown", "intent") for _, _, s in states), states
    assert len(await controller.names("vsvip", contains=f"{C}--{ns}-slow")) == 1  # never created twice
    vs = await controller.one("virtualservice", f"{C}--{ns}-slow")
    assert vs["name"] == f"{C}--{ns}-slow"
    assert akod.stop() == 0
