"""A write-back Kubernetes refuses is a problem on the object, not a failure of the key, and not a loop.

A scripted KubeWriter answers the status and annotation patches the way the apiserver does for a
Service whose annotations are already near the 256 KiB limit: a patch adding the FQDN map gets
422, the status alone is fine.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from akod.kube.events import MESSAGE_BYTES, event_message
from akod.model.problems import ObjectRef
from akod.sync.writeback import MAP_FIELD, REFUSED_RETRY_S, STATUS_FIELD, StatusWriter, write_back

SVC = ObjectRef(kind="Service", namespace="ns", name="big")
BODY: dict[str, Any] = {"uid": "u1", "lb_ingress": [], "fqdn_map": ""}
INGRESS = [{"ip": "10.10.25.10", "hostname": "big.ns.example"}]
FQDN_MAP = {"big.ns.example": "vs-uuid"}
TOO_LONG = "metadata.annotations: Too long: must have at most 262144 bytes"


class _Apiserver:
    """A KubeWriter that refuses any write setting the FQDN map (`map_status`), or any status write (`status_status`)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.events: list[str] = []
        self.map_status = 422
        self.status_status = 200

    def _answer(self, kind: str, *, sets_map: bool, sets_status: bool) -> None:
        self.calls.append(kind)
        status = self.map_status if sets_map else 200
        if sets_status and self.status_status != 200:
            status = self.status_status
        if status >= 300:
            exc = ApiException(status=status, reason="Unprocessable Entity")
            exc.body = json.dumps({"kind": "Status", "message": f'Service "big" is invalid: {TOO_LONG}'})
            raise exc

    async def patch_status(self, *, obj: ObjectRef, ingress: Any) -> None:
        self._answer("status", sets_map=False, sets_status=True)

    async def patch_fqdn_map(self, *, obj: ObjectRef, fqdn_map: Any) -> None:
        self._answer("map", sets_map=bool(fqdn_map), sets_status=False)

    async def patch_status_and_fqdn_map(self, *, obj: ObjectRef, ingress: Any, fqdn_map: Any) -> None:
        self._answer("status+map", sets_map=bool(fqdn_map), sets_status=True)

    async def post_event(self, *, obj: ObjectRef, reason: str, **kwargs: Any) -> None:
        self.events.append(reason)


@pytest.fixture
def apiserver() -> _Apiserver:
    return _Apiserver()


async def test_a_map_kubernetes_refuses_leaves_the_status_written_and_is_a_problem_on_the_annotation(
        apiserver: _Apiserver) -> None:
    problems = await write_back(kube=apiserver, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map=FQDN_MAP, event="Added")
    assert apiserver.calls == ["status+map", "status", "map"]
    assert [(p.field, p.reason) for p in problems] == [(MAP_FIELD, "WriteBackRefused")]
    assert "422" in problems[0].message and "Too long" in problems[0].message
    assert problems[0].obj == SVC
    assert apiserver.events == ["Synced"]


async def test_a_refused_status_is_a_problem_on_the_status(apiserver: _Apiserver) -> None:
    apiserver.status_status = 422
    problems = await write_back(kube=apiserver, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map={}, event="Added")
    assert [(p.field, p.reason) for p in problems] == [(STATUS_FIELD, "WriteBackRefused")]
    assert apiserver.events == []


async def test_an_object_gone_needs_no_status(apiserver: _Apiserver) -> None:
    apiserver.status_status = 404
    assert await write_back(kube=apiserver, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map={}) == []


@pytest.mark.parametrize("code", [429, 500, 503])
async def test_a_busy_or_broken_apiserver_is_raised_for_the_engine_to_retry(apiserver: _Apiserver,
                                                                           code: int) -> None:
    apiserver.status_status = code
    with pytest.raises(ApiException):
        await write_back(kube=apiserver, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map={})


async def test_a_refused_write_is_not_sent_again_until_the_object_or_the_write_changes(
        apiserver: _Apiserver) -> None:
    now = [0.0]
    writer = StatusWriter(clock=lambda: now[0])
    first = await writer.write(kube=apiserver, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map=FQDN_MAP)
    calls = len(apiserver.calls)
    assert await writer.write(kube=apiserver, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map=FQDN_MAP) == first
    assert len(apiserver.calls) == calls and writer.problems_of(SVC) == first
    assert writer.forget(SVC)  # a watch event: the object changed
    await writer.write(kube=apiserver, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map=FQDN_MAP)
    assert len(apiserver.calls) > calls
    calls = len(apiserver.calls)
    await writer.write(kube=apiserver, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map={"other.example": "vs"})
    assert len(apiserver.calls) > calls  # another map to write
    calls = len(apiserver.calls)
    now[0] += REFUSED_RETRY_S + 1  # a permission an admin fixed changes nothing on the object
    await writer.write(kube=apiserver, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map={"other.example": "vs"})
    assert len(apiserver.calls) > calls
    apiserver.map_status = 200
    assert await writer.write(kube=apiserver, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map=FQDN_MAP) == ()
    assert writer.problems_of(SVC) == ()


def test_an_event_message_is_cut_at_one_kib_of_utf8_with_an_ellipsis() -> None:
    assert event_message("short") == "short"
    cut = event_message("é" * 2000)
    assert len(cut.encode()) <= MESSAGE_BYTES and cut.endswith("...") and "\ufffd" not in cut
