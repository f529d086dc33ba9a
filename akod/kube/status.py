"""Writing what the controller assigned back into Kubernetes: Service and Ingress status, and Events.

`status.loadBalancer.ingress` is what `kubectl get svc` shows as EXTERNAL-IP. It is set with a
merge patch of the status subresource; AKO's annotation `ako.vmware.com/host-fqdn-vs-uuid-map`
(FQDN -> virtual service uuid, read by tools such as AMKO) is set with a merge patch of metadata.
Both are skipped by the caller when Kubernetes already shows the same, so a restart writes nothing.
When both change, `KubeWriter.patch_status_and_fqdn_map` writes them in one patch of the status
subresource (which keeps metadata changes; it only resets the spec): one apiserver write and one
watch event instead of two each. The answer tells whether the annotation took; if an apiserver
dropped it, the annotation is patched on its own.

Which API an object is patched through is the one its kind was read from: a Kubernetes 1.18
server serves Ingresses only as `networking.k8s.io/v1beta1` (or `extensions/v1beta1`) and answers
404 for the v1 path. So the writer patches by path, like `akod.kube.listing` lists, and is told
the path of each kind once API discovery has chosen (`KubeWriter.route`, from
`akod.kube.resources.Resolution.targets`); the families that call it name only the kind. A raw
answer is not checked by the client: every one goes through `listing.checked`, so a 404 or a 409
is the `ApiException` the generated method would have raised.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client import ApiClient

from akod.kube.events import post_event
from akod.kube.listing import api_root, checked
from akod.model.problems import ObjectRef

FQDN_MAP_ANNOTATION = "ako.vmware.com/host-fqdn-vs-uuid-map"
# A JSON merge patch (RFC 7386): for these bodies (a list replaced whole, one annotation set or
# removed) it means the same as a strategic merge patch, and the apiserver applies it without the
# struct-driven merge logic.
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class ObjectApi:
    """Where the objects of one kind live on this server: an API group/version and the plural."""

    group_version: str  # "v1" for the core group
    plural: str

    def path(self, *, namespace: str, name: str, subresource: str = "") -> str:
        scope = f"/namespaces/{namespace}" if namespace else ""  # "": a cluster-scoped object
        where = f"{api_root(self.group_version)}{scope}/{self.plural}/{name}"
        return f"{where}/{subresource}" if subresource else where


class NotRouted(LookupError):
    """A write for a kind API discovery did not choose an API for (the server does not serve it)."""


class KubeWriter:
    """The writes akod makes to watched objects, each through the API its kind was read from.

    `route` is called once API discovery is done; until then (and for a kind the server does not
    serve) a write raises `NotRouted`, never guesses a version.
    """

    def __init__(self, *, api: ApiClient, targets: Mapping[str, ObjectApi] | None = None,
                 normal_events: bool = True) -> None:
        self.api = api
        self._targets: dict[str, ObjectApi] = dict(targets or {})
        # `[sync] enable_events` (AKO's enableEvents): off, only Warning Events are posted.
        self.normal_events = normal_events

    def route(self, targets: Mapping[str, ObjectApi]) -> None:
        self._targets = dict(targets)

    def target(self, kind: str) -> ObjectApi:
        try:
            return self._targets[kind]
        except KeyError:
            raise NotRouted(f"no API chosen for {kind} objects (not served, or discovery not done)") from None

    async def patch_status(self, *, obj: ObjectRef, ingress: Sequence[Mapping[str, str]]) -> None:
        body = {"status": {"loadBalancer": {"ingress": [dict(i) for i in ingress]}}}
        await self._patch(obj=obj, body=body, subresource="status")

    async def patch_fqdn_map(self, *, obj: ObjectRef, fqdn_map: Mapping[str, str] | None) -> None:
        body = {"metadata": {"annotations": {FQDN_MAP_ANNOTATION: fqdn_map_value(fqdn_map)}}}
        await self._patch(obj=obj, body=body)

    async def patch_status_and_fqdn_map(self, *, obj: ObjectRef, ingress: Sequence[Mapping[str, str]],
                                        fqdn_map: Mapping[str, str] | None) -> None:
        """The LB status and the FQDN-map annotation (None: removed) in one write, if the server allows."""
        value = fqdn_map_value(fqdn_map)
        body = {"metadata": {"annotations": {FQDN_MAP_ANNOTATION: value}},
                "status": {"loadBalancer": {"ingress": [dict(i) for i in ingress]}}}
        data = await self._patch(obj=obj, body=body, subresource="status")
        try:
            annotations = (json.loads(data).get("metadata") or {}).get("annotations") or {}
        except (ValueError, AttributeError):
            annotations = None
        if annotations is None or annotations.get(FQDN_MAP_ANNOTATION) != value:
            await self.patch_fqdn_map(obj=obj, fqdn_map=fqdn_map)

    async def patch_annotations(self, *, obj: ObjectRef, annotations: Mapping[str, str | None]) -> None:
        """Set (a value) or remove (None) these annotations of `obj`, and touch no other (NodePortLocal opt-in)."""
        await self._patch(obj=obj, body={"metadata": {"annotations": dict(annotations)}})

    async def patch_cr_status(self, *, obj: ObjectRef, status: Mapping[str, str]) -> None:
        """A custom resource's `status` (AKO's `{status: Accepted|Rejected, error}`).

        An empty value is removed (null in the merge patch): the apiserver refuses `""` for AKO's
        `status.error` (measured on 1.20: "must be of type string: null"), and Accepted has no error.
        """
        body = {"status": {k: (v or None) for k, v in status.items()}}
        await self._patch(obj=obj, body=body, subresource="status")

    async def post_event(self, *, obj: ObjectRef, uid: str = "", reason: str, message: str,
                         warning: bool = True) -> None:
        """An Event about `obj`, its involvedObject in the API the object was read from.

        A Normal Event (`warning=False`) is not posted while `normal_events` is off."""
        if not warning and not self.normal_events:
            return
        target = self._targets.get(obj.kind)
        await post_event(api=self.api, obj=obj, uid=uid, reason=reason, message=message, warning=warning,
                         api_version=target.group_version if target is not None else "v1")

    async def _patch(self, *, obj: ObjectRef, body: Mapping[str, Any], subresource: str = "") -> bytes:
        path = self.target(obj.kind).path(namespace=obj.namespace, name=obj.name, subresource=subresource)
        resp = await checked(await self.api.call_api(
            path, "PATCH", {}, [], {"Accept": "application/json", "Content-Type": MERGE_PATCH}, body=dict(body),
            auth_settings=["BearerToken"], response_types_map={}, _preload_content=False,
            _return_http_data_only=True), what=f"PATCH {path}")
        try:
            data: bytes = await resp.read()  # read and dropped: deserialising costs more than the call
        finally:
            resp.release()
        return data


def fqdn_map_value(fqdn_map: Mapping[str, str] | None) -> str | None:
    return json.dumps(dict(fqdn_map), sort_keys=True) if fqdn_map else None
