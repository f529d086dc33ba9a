"""`akod cleanup`'s Kubernetes side: the VIPs akod wrote into statuses, and its NodePortLocal opt-ins.

AKO's deleteConfig leaves no trace in the cluster: the virtual services go, and with them the
VIPs in the Services' and Ingresses' `status.loadBalancer` and the NodePortLocal opt-ins AKO
added. akod does the same, touching only what it wrote:

- a status is akod's when its `ako.vmware.com/host-fqdn-vs-uuid-map` annotation names a virtual
  service of this cluster (the controller's inventory: `created_by: ako-<cluster>`), the proof
  `akod.sync.statusclaims` uses; the status and the annotation are cleared in one write. This runs
  before the virtual services are deleted, so that a cleanup cut off half way still finds them;
- an opt-in is akod's when the Service carries `ako.vmware.com/npl-annotated-by: <cluster>`
  (akod's own marker; a user's opt-in has none and stays).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import ApiClient

from akod.kube.listing import lister
from akod.kube.resources import resolve
from akod.kube.status import FQDN_MAP_ANNOTATION, KubeWriter
from akod.model.npl import NPL_ENABLED_ANNOTATION
from akod.model.problems import ObjectRef
from akod.sync.families.npl import MARKER_ANNOTATION
from akod.sync.statusclaims import fqdn_map_uuids

log = logging.getLogger("akod.sync")
PAGE = 500


@dataclass
class KubeCleanup:
    statuses: list[ObjectRef] = field(default_factory=list)  # the VIPs akod wrote, cleared
    opt_ins: list[ObjectRef] = field(default_factory=list)  # the NodePortLocal opt-ins akod added, removed


async def _items(api: ApiClient, *, group_version: str, plural: str) -> list[dict[str, Any]]:
    """Every object of `plural`, all namespaces, in pages."""
    list_fn = lister(api, group_version=group_version, plural=plural)
    out: list[dict[str, Any]] = []
    token = ""
    while True:
        resp = await list_fn(limit=PAGE, **({"_continue": token} if token else {}))
        try:
            page = json.loads(await resp.read())
        finally:
            resp.release()
        out += page.get("items") or []
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return out


async def cleanup_kubernetes(*, api: ApiClient, cluster: str, vs_uuids: Iterable[str],
                             apply: bool) -> KubeCleanup:
    """Find (and with `apply`, clear) the statuses and opt-ins this cluster's akod wrote."""
    ours = set(vs_uuids)
    resolution = await resolve(api, ["services", "ingresses"])
    writer = KubeWriter(api=api, targets=resolution.targets)
    result = KubeCleanup()
    for name in ("services", "ingresses"):
        variant = resolution.chosen.get(name)
        if variant is None:
            continue
        for item in await _items(api, group_version=variant.group_version, plural=variant.plural):
            meta = item.get("metadata") or {}
            annotations = meta.get("annotations") or {}
            ref = ObjectRef(kind=variant.kind, namespace=str(meta.get("namespace", "")), name=str(meta.get("name")))
            if fqdn_map_uuids({"fqdn_map": annotations.get(FQDN_MAP_ANNOTATION)}) & ours:
                result.statuses.append(ref)
                if apply:
                    await writer.patch_status_and_fqdn_map(obj=ref, ingress=[], fqdn_map=None)
                    log.info("cleared the status akod wrote on %s %s/%s", ref.kind, ref.namespace, ref.name)
            if variant.kind == "Service" and annotations.get(MARKER_ANNOTATION) == cluster:
                result.opt_ins.append(ref)
                if apply:
                    await writer.patch_annotations(obj=ref, annotations={NPL_ENABLED_ANNOTATION: None,
                                                                         MARKER_ANNOTATION: None})
                    log.info("removed the NodePortLocal opt-in akod added to Service %s/%s", ref.namespace, ref.name)
    return result
