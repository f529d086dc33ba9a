"""The election and its fences, on a real kube-apiserver, with each daemon's clock in the test's hands.

Two `Leadership`s stand for two daemons; `try_once()` is one round of the election loop. Their
monotonic clocks are fake, so "15 s without a renewal" or "paused for 40 s" take no time, while the
Lease itself is real (the apiserver's optimistic concurrency decides who wins a race).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from akod.avi import AviWriteRefused
from akod.config import Settings
from akod.daemon.leadership import Leadership
from akod.kube.gating import KubeWriteRefused, gate_writes
from akod.kube.lease import read_lease


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings(identity: str, namespace: str) -> Settings:
    return Settings.model_validate({
        "cluster": {"name": "S1-AZ1"}, "controller": {"host": "127.0.0.1", "se_group": "S1-AZ1-SE-Group"},
        "ha": {"enabled": True, "identity": identity, "lease_namespace": namespace}})


@pytest.fixture
async def pair(kube_client: client.ApiClient, kube_namespace: str) -> AsyncIterator[tuple[Leadership, Clock,
                                                                                           Leadership, Clock]]:
    a_clock, b_clock = Clock(), Clock()
    a = Leadership(settings=settings("jump-a", kube_namespace), api=kube_client, clock=a_clock)
    b = Leadership(settings=settings("jump-b", kube_namespace), api=kube_client, clock=b_clock)
    yield a, a_clock, b, b_clock
    with contextlib.suppress(ApiException):
        await client.CoordinationV1Api(kube_client).delete_namespaced_lease(a.name, kube_namespace)


async def test_the_first_takes_the_lease_and_the_second_stands_by(pair: tuple[Leadership, Clock, Leadership, Clock],
                                                                   kube_client: client.ApiClient) -> None:
    a, _, b, _ = pair
    assert a.name == "akod-s1-az1" and not a.leader and not a.may_write()
    await a.try_once()
    await b.try_once()
    assert a.leader and a.may_write() and a.holder == "jump-a"
    assert not b.leader and not b.may_write() and b.holder == "jump-a"
    with pytest.raises(AviWriteRefused):
        b.check_write()
    lease = await read_lease(kube_client, namespace=a.namespace, name=a.name)
    assert lease is not None and lease.holder == "jump-a" and lease.duration_s == 15


async def test_a_leader_that_cannot_renew_stops_writing_before_its_lease_expires(
        pair: tuple[Leadership, Clock, Leadership, Clock]) -> None:
    a, a_clock, _, _ = pair
    await a.try_once()
    a_clock.now += 9.9
    assert a.may_write()
    a_clock.now += 0.2  # 10.1 s after the renewal began: past the renew deadline, before the 15 s lease
    assert a.leader and not a.may_write()
    with pytest.raises(AviWriteRefused):
        a.check_write()


async def test_the_standby_takes_over_only_after_the_lease_went_unrenewed_for_its_duration(
        pair: tuple[Leadership, Clock, Leadership, Clock]) -> None:
    a, a_clock, b, b_clock = pair
    await a.try_once()
    await b.try_once()  # b first sees the lease now, on its own clock
    b_clock.now += 14.0
    await b.try_once()
    assert not b.leader
    b_clock.now += 1.5  # 15.5 s since b saw the lease change: expired as b observes it
    await b.try_once()
    assert b.leader and b.may_write() and b.holder == "jump-b"
    # The old leader, resumed after a long pause: its gate is already shut, and it stands by.
    a_clock.now += 40.0
    assert not a.may_write()
    await a.try_once()
    assert not a.leader and a.holder == "jump-b"


async def test_a_renewal_keeps_the_lease_and_the_standby_waits(pair: tuple[Leadership, Clock, Leadership, Clock]) -> None:
    a, a_clock, b, b_clock = pair
    await a.try_once()
    for _ in range(10):  # 20 s of renewals every 2 s: never expired as b sees it
        a_clock.now += 2.0
        b_clock.now += 2.0
        await a.try_once()
        await b.try_once()
        assert a.leader and a.may_write() and not b.leader


async def test_a_released_lease_is_taken_at_the_next_try(pair: tuple[Leadership, Clock, Leadership, Clock]) -> None:
    a, _, b, _ = pair
    await a.try_once()
    await b.try_once()
    await a.release()
    assert not a.leader
    await b.try_once()
    assert b.leader and b.holder == "jump-b"


async def test_the_write_gate_refuses_kubernetes_writes_and_lets_reads_through(
        kubeconfig: object, kube_namespace: str) -> None:
    from kubernetes_asyncio import config

    allowed = {"yes": False}

    def gate() -> None:
        if not allowed["yes"]:
            raise KubeWriteRefused("not the leader")

    api = await config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    async with api:
        gate_writes(api, gate)
        core = client.CoreV1Api(api)
        await core.list_namespaced_config_map(kube_namespace)  # a read passes
        body = {"metadata": {"name": "gated"}, "data": {"a": "b"}}
        with pytest.raises(KubeWriteRefused):
            await core.create_namespaced_config_map(kube_namespace, body)
        allowed["yes"] = True
        await core.create_namespaced_config_map(kube_namespace, body)
        allowed["yes"] = False
        with pytest.raises(KubeWriteRefused):
            await core.patch_namespaced_config_map("gated", kube_namespace, {"data": {"a": "c"}})
        assert (await core.read_namespaced_config_map("gated", kube_namespace)).data == {"a": "b"}
