"""A write-back Kubernetes refuses is a problem on the object, not a failure of the key, and not a loop.

A scripted CoreV1Api answers the status and annotation patches the way the apiserver does for a
Service whose annotations are already near the 256 KiB limit: a patch adding the FQDN map gets
422, the status alone is fine.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from akod.kube import status as kstatus
from akod.kube.events import MESSAGE_BYTES, event_message
from akod.model.problems import ObjectRef
from akod.sync import writeback
from akod.sync.writeback import MAP_FIELD, REFUSED_RETRY_S, STATUS_FIELD, StatusWriter, write_back

SVC = ObjectRef(kind="Service", namespace="ns", name="big")
BODY: dict[str, Any] = {"uid": "u1", "lb_ingress": [], "fqdn_map": ""}
INGRESS = [{"ip": "10.10.25.10", "hostname": "big.ns.example"}]
FQDN_MAP = {"big.ns.example": "vs-uuid"}
TOO_LONG = "metadata.annotations: Too long: must have at most 262144 bytes"


class _Resp:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.reason = "OK" if status < 300 else "Unprocessable Entity"
        self._data = json.dumps(body).encode()

    async def read(self) -> bytes:
        return self._data

    def release(self) -> None:
        pass


class _Apiserver:
    """Refuses any patch that sets the FQDN map (`map_status`), or any status patch (`status_status`)."""

    calls: list[str] = []
    map_status = 422
    status_status = 200

    def __init__(self, api: Any) -> None:
        pass

    @classmethod
    def _answer(cls, kind: str, body: dict[str, Any]) -> _Resp:
        cls.calls.append(kind)
        sets_map = bool((body.get("metadata") or {}).get("annotations", {}).get(kstatus.FQDN_MAP_ANNOTATION))
        status = cls.map_status if sets_map else 200
        if "status" in body and cls.status_status != 200:
            status = cls.status_status
        if status >= 300:
            return _Resp(status, {"kind": "Status", "message": f'Service "big" is invalid: {TOO_LONG}'})
        return _Resp(200, {"metadata": {"name": "big", "annotations": {}}})

    async def patch_namespaced_service_status(self, name, namespace, body, **kw):  # noqa: ANN001, ANN201
        return self._answer("status+map" if "metadata" in body else "status", body)

    async def patch_namespaced_service(self, name, namespace, body, **kw):  # noqa: ANN001, ANN201
        return self._answer("map", body)


@pytest.fixture
def apiserver(monkeypatch: pytest.MonkeyPatch) -> type[_Apiserver]:
    monkeypatch.setattr(kstatus, "CoreV1Api", _Apiserver)
    events: list[str] = []

    async def post_event(**kwargs: Any) -> None:
        events.append(kwargs["reason"])

    monkeypatch.setattr(writeback, "post_event", post_event)
    _Apiserver.calls, _Apiserver.map_status, _Apiserver.status_status = [], 422, 200
    _Apiserver.events = events  # type: ignore[attr-defined]
    return _Apiserver


async def test_a_map_kubernetes_refuses_leaves_the_status_written_and_is_a_problem_on_the_annotation(
        apiserver: type[_Apiserver]) -> None:
    problems = await write_back(api=None, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map=FQDN_MAP, event="Added")
    assert apiserver.calls == ["status+map", "status", "map"]
    assert [(p.field, p.reason) for p in problems] == [(MAP_FIELD, "WriteBackRefused")]
    assert "422" in problems[0].message and "Too long" in problems[0].message
    assert problems[0].obj == SVC
    assert apiserver.events == ["Synced"]  # type: ignore[attr-defined]


async def test_a_refused_status_is_a_problem_on_the_status(apiserver: type[_Apiserver]) -> None:
    apiserver.status_status = 422
    problems = await write_back(api=None, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map={}, event="Added")
    assert [(p.field, p.reason) for p in problems] == [(STATUS_FIELD, "WriteBackRefused")]
    assert apiserver.events == []  # type: ignore[attr-defined]


async def test_an_object_gone_needs_no_status(apiserver: type[_Apiserver]) -> None:
    apiserver.status_status = 404
    assert await write_back(api=None, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map={}) == []


@pytest.mark.parametrize("code", [429, 500, 503])
async def test_a_busy_or_broken_apiserver_is_raised_for_the_engine_to_retry(apiserver: type[_Apiserver],
                                                                           code: int) -> None:
    apiserver.status_status = code
    with pytest.raises(ApiException):
        await write_back(api=None, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map={})


async def test_a_refused_write_is_not_sent_again_until_the_object_or_the_write_changes(
        apiserver: type[_Apiserver]) -> None:
    now = [0.0]
    writer = StatusWriter(clock=lambda: now[0])
    first = await writer.write(api=None, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map=FQDN_MAP)
    calls = len(apiserver.calls)
    assert await writer.write(api=None, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map=FQDN_MAP) == first
    assert len(apiserver.calls) == calls and writer.problems_of(SVC) == first
    assert writer.forget(SVC)  # a watch event: the object changed
    await writer.write(api=None, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map=FQDN_MAP)
    assert len(apiserver.calls) > calls
    calls = len(apiserver.calls)
    await writer.write(api=None, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map={"other.example": "vs"})
    assert len(apiserver.calls) > calls  # another map to write
    calls = len(apiserver.calls)
    now[0] += REFUSED_RETRY_S + 1  # a permission an admin fixed changes nothing on the object
    await writer.write(api=None, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map={"other.example": "vs"})
    assert len(apiserver.calls) > calls
    apiserver.map_status = 200
    assert await writer.write(api=None, obj=SVC, body=BODY, ingress=INGRESS, fqdn_map=FQDN_MAP) == ()
    assert writer.problems_of(SVC) == ()


def test_an_event_message_is_cut_at_one_kib_of_utf8_with_an_ellipsis() -> None:
    assert event_message("short") == "short"
    cut = event_message("é" * 2000)
    assert len(cut.encode()) <= MESSAGE_BYTES and cut.endswith("...") and "\ufffd" not in cut
