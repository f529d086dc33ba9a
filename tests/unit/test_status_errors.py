"""`/status` stays small with thousands of object errors; `/errors` pages through all of them.

A real store (SQLite file) holds the problems, the runtime and the status server answer over
real HTTP (aiohttp's test server): what a script polling `/status` would see.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from akod.avi import AviClient, Pacer
from akod.config.loading import parse_settings
from akod.model.problems import MESSAGE_LIMIT, ObjectRef, Problem
from akod.statusd.server import make_app
from akod.store import Store
from akod.sync.cluster import ClusterCache
from akod.sync.engine import Engine
from akod.sync.family import DONE, Inputs, Outcome
from akod.sync.keyqueue import KeyQueue
from akod.sync.metrics import Telemetry
from akod.sync.registry import Registry
from akod.sync.runtime import ERRORS_SHOWN, Runtime
from akod.daemon.leadership import Leadership

SETTINGS = parse_settings('[cluster]\nname = "S1-AZ1"\n[controller]\nhost = "http://127.0.0.1:1"\nse_group = "g"\n')
SERVICES = 1050


async def _nothing(key: str) -> Outcome:
    return DONE


async def _no_applied(obj_type: str, tenant: str, name: str) -> None:
    return None


def service_problems(count: int) -> list[Problem]:
    found = []
    for i in range(count):
        ref = ObjectRef(kind="Service", namespace="bad", name=f"svc-{i:04d}")
        reason = "InvalidLoadBalancerIP" if i % 3 else "LoadBalancerIPOutsideVipNetwork"
        found.append(Problem(obj=ref, field="metadata.annotations[ako.vmware.com/load-balancer-ip]", reason=reason,
                             message=f"'{'x' * 200_000}' is not an IP address"))  # one huge message each
    return found


@pytest.fixture
async def status(tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    store = await Store.open(path=tmp_path / "state.db")
    telemetry = Telemetry()
    registry = Registry(inputs=Inputs(cluster=ClusterCache(), settings=SETTINGS, applied=_no_applied), io=None)
    pacer = Pacer(rate=0, burst=1, workers=1)
    client = AviClient(base_url="http://127.0.0.1:1", username="admin", password="x", pacer=pacer)
    runtime = Runtime(store=store, telemetry=telemetry, client=client, registry=registry, pacer=pacer,
                      leadership=Leadership(settings=SETTINGS, api=None),
                      engine=Engine(queue=KeyQueue(), telemetry=telemetry, workers=1, handler=_nothing))
    await store.replace_problems(kind="Service", problems=service_problems(SERVICES))
    await store.replace_problems(kind="Node", problems=[Problem(obj=ObjectRef("Node", "", "n1"), field="spec.podCIDRs",
                                                                reason="UnsafePodCIDR", message="pod CIDR 0.0.0.0/0")])
    async with TestClient(TestServer(make_app(runtime=runtime))) as http:
        yield http
    await store.close()


async def test_status_lists_the_first_hundred_errors_with_the_total_and_counts_by_reason(
        status: TestClient[Any, Any]) -> None:
    response = await status.get("/status")
    text = await response.text()
    data = json.loads(text)
    assert len(data["errors"]) == ERRORS_SHOWN
    assert data["errors_total"] == SERVICES + 1
    assert data["errors_by_reason"] == {"InvalidLoadBalancerIP": 700, "LoadBalancerIPOutsideVipNetwork": 350,
                                        "UnsafePodCIDR": 1}
    assert data["errors"][0] == {**data["errors"][0], "kind": "Node", "name": "n1", "reason": "UnsafePodCIDR"}
    assert set(data["errors"][1]) == {"kind", "namespace", "name", "field", "reason", "message", "since"}
    assert all(len(e["message"]) <= MESSAGE_LIMIT for e in data["errors"])
    assert len(text) < 200_000  # 657 KB before, with one message of 200,059 characters


async def test_errors_pages_through_every_error_and_filters_by_object(status: TestClient[Any, Any]) -> None:
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = await (await status.get(f"/errors?offset={offset}&limit=400")).json()
        assert page["total"] == SERVICES + 1 and len(page["errors"]) <= 400
        seen += [e["name"] for e in page["errors"]]
        offset = page["next_offset"]
    assert len(seen) == len(set(seen)) == SERVICES + 1
    one = await (await status.get("/errors?kind=Service&namespace=bad&name=svc-0007")).json()
    assert one["total"] == 1 and one["errors"][0]["reason"] == "InvalidLoadBalancerIP"
    capped = await (await status.get("/errors?limit=100000")).json()
    assert capped["limit"] == 1000 and len(capped["errors"]) == 1000
    bad = await status.get("/errors?offset=x")
    assert bad.status == 400


def test_akod_status_prints_the_total_and_the_commonest_reasons_not_just_the_listed_errors() -> None:
    from akod.cli.status import summary

    shown = [{"kind": "Service", "namespace": "bad", "name": f"svc-{i}", "field": "spec", "reason": "R",
              "message": "m"} for i in range(100)]
    text = summary({"version": "0.1.0", "cluster": "S1-AZ1", "ready": True, "errors": shown, "errors_total": 1051,
                    "errors_by_reason": {"InvalidLoadBalancerIP": 1050, "UnsafePodCIDR": 1}})
    assert "errors      1051 (InvalidLoadBalancerIP 1050, UnsafePodCIDR 1)" in text
    assert text.count("Service bad/svc-") == 20
