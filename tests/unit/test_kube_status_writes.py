"""Status write-back: one patch of the status subresource for status + annotation, with a fallback."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from akod.kube import status as kstatus


class _Resp:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.reason = "OK" if status < 300 else "Conflict"
        self._data = json.dumps(body).encode()

    async def read(self) -> bytes:
        return self._data

    def release(self) -> None:
        pass


class _FakeCore:
    calls: list[tuple[str, dict[str, Any], str]] = []
    keeps_metadata = True
    status_code = 200

    def __init__(self, api: Any) -> None:
        pass

    async def patch_namespaced_service_status(self, name, namespace, body, **kw):  # noqa: ANN001, ANN201
        _FakeCore.calls.append(("status", body, kw.get("_content_type", "")))
        annotations = body.get("metadata", {}).get("annotations", {}) if _FakeCore.keeps_metadata else {}
        annotations = {k: v for k, v in annotations.items() if v is not None}
        return _Resp(_FakeCore.status_code, {"metadata": {"name": name, "annotations": annotations},
                                             "status": body["status"]})

    async def patch_namespaced_service(self, name, namespace, body, **kw):  # noqa: ANN001, ANN201
        _FakeCore.calls.append(("metadata", body, kw.get("_content_type", "")))
        return _Resp(200, {"metadata": {"name": name}})


@pytest.fixture
def core(monkeypatch: pytest.MonkeyPatch) -> type[_FakeCore]:
    monkeypatch.setattr(kstatus, "CoreV1Api", _FakeCore)
    _FakeCore.calls = []
    _FakeCore.keeps_metadata = True
    _FakeCore.status_code = 200
    return _FakeCore


def _write(fqdn_map: dict[str, str] | None) -> None:
    asyncio.run(kstatus.patch_service_status_and_fqdn_map(
        api=None, namespace="ns", name="svc", ingress=[{"ip": "10.10.0.1", "hostname": "svc.ns.example"}],
        fqdn_map=fqdn_map))


def test_status_and_annotation_go_in_one_merge_patch(core: type[_FakeCore]) -> None:
    _write({"svc.ns.example": "vs-uuid"})
    assert [(kind, ct) for kind, _, ct in core.calls] == [("status", kstatus.MERGE_PATCH)]
    body = core.calls[0][1]
    assert body["status"] == {"loadBalancer": {"ingress": [{"ip": "10.10.0.1", "hostname": "svc.ns.example"}]}}
    assert json.loads(body["metadata"]["annotations"][kstatus.FQDN_MAP_ANNOTATION]) == {"svc.ns.example": "vs-uuid"}


def test_a_server_that_drops_metadata_on_status_gets_the_annotation_patched_alone(core: type[_FakeCore]) -> None:
    core.keeps_metadata = False
    _write({"svc.ns.example": "vs-uuid"})
    assert [kind for kind, _, _ in core.calls] == ["status", "metadata"]
    assert kstatus.FQDN_MAP_ANNOTATION in core.calls[1][1]["metadata"]["annotations"]


def test_removing_the_annotation_needs_no_second_write(core: type[_FakeCore]) -> None:
    _write(None)
    assert [kind for kind, _, _ in core.calls] == ["status"]
    assert core.calls[0][1]["metadata"]["annotations"] == {kstatus.FQDN_MAP_ANNOTATION: None}


def test_an_error_answer_is_raised(core: type[_FakeCore]) -> None:
    core.status_code = 409
    with pytest.raises(ApiException) as caught:
        _write({"svc.ns.example": "vs-uuid"})
    assert caught.value.status == 409
