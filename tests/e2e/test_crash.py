"""Issue 9 a: ten kill -9s in the middle of a sync of 100 Services and 30 Ingresses, with the controller
answering 503s, 429s and dropped connections, and Services and Ingresses deleted and created
between the kills. At the end the controller holds exactly what the cluster wants (nothing
missing, no orphan, no duplicate: `akod plan` has nothing to do), every status is right, and no
journal row is left open.
"""

from __future__ import annotations

import ipaddress
import json
import random
from typing import Any

from tests.e2e.conftest import Controller, Nodes
from tests.e2e.harness import akod_cli, eventually
from tests.e2e.ingresses import Ingresses, make_cert, path, rule

C = "S1-AZ1"
KILLS = 10
FAULTS = {"errors": [{"method": "POST", "path": "/api/pool", "status": 503, "probability": 0.05},
                     {"method": "PUT", "path": "/api/virtualservice", "status": 503, "probability": 0.05},
                     {"method": "POST", "path": "/api/virtualservice", "status": 429, "probability": 0.05}],
          "reset_probability": 0.01, "latency_ms": {"write": 15, "read": 0}}


async def test_ten_kills_mid_sync_with_faults_and_deletions_leave_exactly_the_wanted_objects(
        controller: Controller, nodes: Nodes, services: Any, ingresses: Ingresses, make_daemon: Any,
        kube_namespace: str) -> None:
    ns = kube_namespace
    rng = random.Random(9)
    await nodes.seed()
    wanted_services = [f"svc-{i:03d}" for i in range(100)]
    for name in wanted_services:
        await services.create(ns, name, ports=[(80, "TCP")], endpoints=[f"10.34.1.{rng.randint(2, 250)}"])
    await services.create(ns, "backend", ports=[(80, "TCP")], endpoints=["10.34.2.10"], svc_type="ClusterIP")
    wanted_ingresses = [f"ing-{i:02d}" for i in range(30)]
    for i, name in enumerate(wanted_ingresses):
        host = f"{name}.crash.avi.iberia.local"
        tls: list[tuple[list[str], str]] = []
        if i % 3 == 0:
            cert, key = make_cert(host)
            await ingresses.secret(ns, f"{name}-tls", cert=cert, key=key)
            tls = [([host], f"{name}-tls")]
        await ingresses.create(ns, name, rules=[rule(host, path("/", "backend", 80), path("/api", "backend", 80))],
                               tls=tls)
    akod = make_daemon()
    await controller.faults(FAULTS)
    for kill in range(KILLS):
        writes = len(await controller.writes())
        akod.start()

        async def progressed() -> bool:
            akod.assert_running()
            return len(await controller.writes()) >= writes + rng.randint(10, 40)

        await eventually(progressed, timeout=60, interval=0.05, what=f"progress before kill {kill + 1}")
        akod.kill9()
        # While it is down: some Services and an Ingress go, a Service comes.
        for _ in range(2):
            gone = wanted_services.pop(rng.randrange(len(wanted_services)))
            await services.delete(ns, gone)
        gone_ing = wanted_ingresses.pop(rng.randrange(len(wanted_ingresses)))
        await ingresses.delete(ns, gone_ing)
        newcomer = f"new-{kill}"
        await services.create(ns, newcomer, ports=[(80, "TCP")], endpoints=["10.34.1.77"])
        wanted_services.append(newcomer)
    answered = {r["status"] for r in await controller.requests()}
    assert {503, 429} <= answered, answered  # the faults did happen
    await controller.faults({"errors": [], "reset_probability": 0, "latency_ms": {"write": 0, "read": 0}})
    akod.start()
    status = await akod.wait_in_sync(timeout=180)
    assert akod.stop() == 0

    # Exactly the wanted objects: the daemon's own dry run finds nothing to create, update or delete.
    plan = akod_cli("plan", "--config", str(akod.config), "--json")
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-2000:]
    for obj_type in ("virtualservice", "vsvip", "pool", "l4policyset", "poolgroup", "httppolicyset",
                     "sslkeyandcertificate"):
        made = await controller.names(obj_type, contains=f"{C}--")
        assert len(made) == len(set(made)), (obj_type, "duplicate names")
    l4 = set(await controller.names("virtualservice", contains=f"{C}--{ns}-"))
    assert l4 == {f"{C}--{ns}-{name}" for name in wanted_services}
    # Every status right: a Service shows its own VsVip's address; an Ingress its host on its shard's VIP.
    for name in wanted_services:
        svc = await services.get(ns, name)
        shown = [e.ip for e in (svc.status.load_balancer.ingress or [])]
        vip = await controller.one("vsvip", f"{C}--{ns}-{name}")
        assert shown == [vip["vip"][0]["ip_address"]["addr"]], (name, shown)
    for name in wanted_ingresses:
        shown = await ingresses.status(ns, name)
        assert [e["hostname"] for e in shown] == [f"{name}.crash.avi.iberia.local"], (name, shown)
        assert all(ipaddress.ip_address(e["ip"]) in ipaddress.ip_network("10.10.25.0/24") for e in shown)
    # No journal row left open.
    journal = json.loads(akod_cli("state", "--config", str(akod.config), "journal", "--json").stdout)
    assert status["sync"]["journal"].get("intent", 0) == 0 and status["sync"]["journal"].get("unknown", 0) == 0
    assert all(j["state"] not in ("intent", "unknown") for j in journal), [j for j in journal if j["state"] in
                                                                          ("intent", "unknown")][:5]
