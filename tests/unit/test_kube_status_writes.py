"""Status write-back: through the API each kind was read from, one patch for status + annotation."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from akod.kube import status as kstatus
from akod.kube.resources import RESOURCES, Resolution
from akod.kube.status import KubeWriter, NotRouted, ObjectApi
from akod.model.problems import ObjectRef
from akod.sync.writeback import write_back

SERVICE = ObjectRef(kind="Service", namespace="ns", name="svc")
INGRESS = ObjectRef(kind="Ingress", namespace="ns", name="web")
CORE = {"Service": ObjectApi(group_version="v1", plural="services")}


class _Resp:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self._data = json.dumps(body).encode()
        self.released = False

    async def read(self) -> bytes:
        return self._data

    def release(self) -> None:
        self.released = True


class FakeApi:
    """An ApiClient's `call_api` as a server that keeps (or drops) metadata sent to /status."""

    def __init__(self, *, status_code: int = 200, keeps_metadata: bool = True) -> None:
        self.calls: list[tuple[str, str, dict[str, Any], str]] = []
        self.status_code = status_code
        self.keeps_metadata = keeps_metadata

    async def call_api(self, path: str, method: str, path_params: Any, query: Any, headers: dict[str, str],
                       **kw: Any) -> _Resp:
        body = kw["body"]
        self.calls.append((method, path, body, headers.get("Content-Type", "")))
        annotations = body.get("metadata", {}).get("annotations", {})
        if path.endswith("/status") and not self.keeps_metadata:
            annotations = {}
        return _Resp(self.status_code, {"metadata": {"annotations": {k: v for k, v in annotations.items()
                                                                     if v is not None}}})


def _writer(api: FakeApi, targets: dict[str, ObjectApi] | None = None) -> KubeWriter:
    return KubeWriter(api=api, targets=CORE if targets is None else targets)  # type: ignore[arg-type]


def _write_both(api: FakeApi, fqdn_map: dict[str, str] | None) -> None:
    asyncio.run(_writer(api).patch_status_and_fqdn_map(
        obj=SERVICE, ingress=[{"ip": "10.10.0.1", "hostname": "svc.ns.example"}], fqdn_map=fqdn_map))


def test_status_and_annotation_go_in_one_merge_patch_of_the_status_subresource() -> None:
    api = FakeApi()
    _write_both(api, {"svc.ns.example": "vs-uuid"})
    assert [(m, p, ct) for m, p, _, ct in api.calls] == [
        ("PATCH", "/api/v1/namespaces/ns/services/svc/status", kstatus.MERGE_PATCH)]
    body = api.calls[0][2]
    assert body["status"] == {"loadBalancer": {"ingress": [{"ip": "10.10.0.1", "hostname": "svc.ns.example"}]}}
    assert json.loads(body["metadata"]["annotations"][kstatus.FQDN_MAP_ANNOTATION]) == {"svc.ns.example": "vs-uuid"}


def test_a_server_that_drops_metadata_on_status_gets_the_annotation_patched_alone() -> None:
    api = FakeApi(keeps_metadata=False)
    _write_both(api, {"svc.ns.example": "vs-uuid"})
    assert [p for _, p, _, _ in api.calls] == ["/api/v1/namespaces/ns/services/svc/status",
                                               "/api/v1/namespaces/ns/services/svc"]
    assert kstatus.FQDN_MAP_ANNOTATION in api.calls[1][2]["metadata"]["annotations"]


def test_removing_the_annotation_needs_no_second_write() -> None:
    api = FakeApi()
    _write_both(api, None)
    assert len(api.calls) == 1
    assert api.calls[0][2]["metadata"]["annotations"] == {kstatus.FQDN_MAP_ANNOTATION: None}


def test_an_error_answer_is_raised_with_its_status() -> None:
    with pytest.raises(ApiException) as caught:
        _write_both(FakeApi(status_code=409), {"svc.ns.example": "vs-uuid"})
    assert caught.value.status == 409


def _resolution(**chosen: int) -> Resolution:
    """A resolution that chose variant number `chosen[name]` of each logical resource."""
    return Resolution(chosen={name: RESOURCES[name][index] for name, index in chosen.items()})


@pytest.mark.parametrize(("index", "root"), [(0, "/apis/networking.k8s.io/v1"),
                                             (1, "/apis/networking.k8s.io/v1beta1"),
                                             (2, "/apis/extensions/v1beta1")])
def test_an_ingress_status_is_patched_through_the_api_its_ingresses_were_read_from(index: int, root: str) -> None:
    api = FakeApi()
    writer = _writer(api, targets={})
    writer.route(_resolution(services=0, ingresses=index).targets)
    body = {"lb_ingress": [], "fqdn_map": "", "uid": "u1"}
    asyncio.run(write_back(kube=writer, obj=INGRESS, body=body, ingress=[{"ip": "10.10.25.3", "hostname": "a.com"}],
                           fqdn_map={"a.com": "vs-1"}))
    patches = [p for m, p, _, _ in api.calls if m == "PATCH"]
    assert patches == [f"{root}/namespaces/ns/ingresses/web/status", f"{root}/namespaces/ns/ingresses/web"]
    assert all(ct == kstatus.MERGE_PATCH for m, _, _, ct in api.calls if m == "PATCH")


def test_services_stay_core_v1_whatever_api_the_ingresses_come_from() -> None:
    targets = _resolution(services=0, ingresses=2).targets
    assert targets["Service"] == ObjectApi(group_version="v1", plural="services")
    assert targets["Ingress"] == ObjectApi(group_version="extensions/v1beta1", plural="ingresses")


def test_a_kind_without_a_chosen_api_is_never_written_by_guess() -> None:
    writer = _writer(FakeApi(), targets={})
    with pytest.raises(NotRouted):
        asyncio.run(writer.patch_status(obj=INGRESS, ingress=[]))


def test_write_back_ignores_an_object_deleted_meanwhile() -> None:
    api = FakeApi(status_code=404)
    body = {"lb_ingress": [], "fqdn_map": "", "uid": "u1"}
    asyncio.run(write_back(kube=_writer(api), obj=SERVICE, body=body, ingress=[{"ip": "10.10.0.1"}], fqdn_map={}))
    assert len(api.calls) == 1


def test_write_back_skips_what_kubernetes_already_shows() -> None:
    api = FakeApi()
    body = {"lb_ingress": [{"ip": "10.10.0.1"}], "fqdn_map": json.dumps({"a.com": "vs-1"}), "uid": "u1"}
    asyncio.run(write_back(kube=_writer(api), obj=SERVICE, body=body, ingress=[{"ip": "10.10.0.1"}],
                           fqdn_map={"a.com": "vs-1"}))
    assert api.calls == []


class NoCalls:
    """An ApiClient that must not be called."""

    async def call_api(self, *args: Any, **kw: Any) -> Any:
        raise AssertionError(f"unexpected call {args[:2]}")


def test_normal_events_are_not_posted_when_enable_events_is_off() -> None:
    writer = KubeWriter(api=NoCalls(), targets=CORE, normal_events=False)  # type: ignore[arg-type]
    asyncio.run(writer.post_event(obj=SERVICE, uid="u1", reason="Synced", message="Added", warning=False))


def test_warnings_are_posted_when_enable_events_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    posted: list[str] = []

    async def fake_post(**kw: Any) -> None:
        posted.append(kw["reason"])

    monkeypatch.setattr(kstatus, "post_event", fake_post)
    writer = KubeWriter(api=NoCalls(), targets=CORE, normal_events=False)  # type: ignore[arg-type]
    asyncio.run(writer.post_event(obj=SERVICE, uid="u1", reason="BadAnnotation", message="x", warning=True))
    assert posted == ["BadAnnotation"]
