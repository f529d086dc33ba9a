"""A CRD installed under a running akod is watched without a restart (`[sync] rediscover_s`).

The user's order of operations from AKO's guide is not always ours: akod is started, then
somebody runs `kubectl apply -f deploy/crds/` and creates a HostRule. Before this, akod found
CRDs only at its start, so the HostRule stayed without a status and changed nothing until the
next restart. Real kube-apiserver (the CRDs installed mid-test and removed after it), the strict
emulator, `akod run` as a process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from akod.devenv import crds
from akod.devenv.crds import HostRules
from tests.e2e.conftest import Controller, Nodes
from tests.e2e.harness import eventually
from tests.e2e.ingresses import Ingresses
from tests.e2e.test_hostrule import CHILD, WAF, points_at, status_of
from tests.e2e.test_l7 import HACK, KUARD, routed, seed_ingresses, shard, vip_of

REDISCOVER = "[sync]\nrediscover_s = 1\n"


@pytest.fixture
async def no_crds(kube_client: client.ApiClient) -> AsyncIterator[HostRules]:
    await crds.remove(kube_client)
    yield HostRules(kube_client)
    await crds.remove(kube_client)


async def test_a_hostrule_crd_installed_after_the_start_is_watched_and_applied_without_a_restart(
        controller: Controller, nodes: Nodes, services: Any, ingresses: Ingresses, no_crds: HostRules,
        kube_client: client.ApiClient, make_daemon: Any) -> None:
    await seed_ingresses(services, nodes, ingresses)
    akod = make_daemon(extra_config=REDISCOVER)
    akod.start()
    await akod.wait_in_sync()
    code, status = await akod.get("/status")
    assert code == 200
    assert "hostrules" in status["kubernetes"]["absent_crds"], status["kubernetes"]
    assert akod.proc is not None
    pid = akod.proc.pid

    await crds.install(kube_client)

    async def watched() -> dict[str, Any] | bool:
        _, now = await akod.get("/status")
        k = now["kubernetes"]
        return k if "hostrules" in k["apis"] and not set(crds.ALL) & set(k["absent_crds"]) else False

    found = await eventually(watched, timeout=30, what="the HostRule CRD watched")
    assert found["apis"]["hostrules"] == "ako.vmware.com/v1beta1/hostrules"

    await no_crds.create("default", "kuard", {"fqdn": KUARD, "wafPolicy": WAF})
    assert await status_of(no_crds, "kuard", "Accepted") == {"status": "Accepted"}
    waf = await controller.one("wafpolicy", WAF)

    async def applied() -> bool:
        vs = await controller.one("virtualservice", CHILD)
        return points_at(vs.get("waf_policy_ref"), waf)

    await eventually(applied, timeout=30, what="the HostRule on the SNI child")
    assert akod.proc.pid == pid and akod.proc.poll() is None  # no restart
    hack = await routed(controller, vip=await vip_of(controller, shard(HACK)), port=80, host=HACK)
    assert hack["vs"] == shard(HACK)
    await akod.wait_in_sync()
    assert akod.stop() == 0
