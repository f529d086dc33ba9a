"""Writing a VIP back to a Service or an Ingress: status, the FQDN map annotation and an Event.

L4 and L7 write the same three things, and both skip what Kubernetes already shows, so that a
restart with nothing changed makes no Kubernetes call either. An object deleted meanwhile (404)
needs no status. An empty `ingress` and map clear what akod wrote. When a Service's status and
map both change, they go in one patch of its status subresource (one apiserver write and one
watch event fewer; see `KubeWriter.patch_status_and_fqdn_map`).

Families name the object by kind only: the `KubeWriter` patches it through the API version its
kind was read from (API discovery chose it), so a v1beta1 Ingress gets its status on a 1.18 server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from akod.kube.status import KubeWriter
from akod.model.problems import ObjectRef

# Kinds whose status and map go in one write (Services only so far; an Ingress gets two).
COMBINED = frozenset({"Service"})


async def write_back(*, kube: KubeWriter, obj: ObjectRef, body: Mapping[str, Any],
                     ingress: Sequence[Mapping[str, str]], fqdn_map: Mapping[str, str], event: str = "") -> None:
    """Make `obj` (whose trimmed `body` has `lb_ingress`, `fqdn_map`, `uid`) show `ingress` and `fqdn_map`.

    `event` is the message of the `Synced` Event posted when the status changes to a non-empty one.
    """
    try:
        current = json.loads(body["fqdn_map"]) if body.get("fqdn_map") else {}
        map_differs = current != dict(fqdn_map)
        if list(body.get("lb_ingress") or []) != list(ingress):
            if map_differs and obj.kind in COMBINED:
                await kube.patch_status_and_fqdn_map(obj=obj, ingress=ingress, fqdn_map=dict(fqdn_map) or None)
                map_differs = False
            else:
                await kube.patch_status(obj=obj, ingress=ingress)
            if ingress and event:
                await kube.post_event(obj=obj, uid=str(body.get("uid", "")), reason="Synced", warning=False,
                                      message=event)
        if map_differs:
            await kube.patch_fqdn_map(obj=obj, fqdn_map=dict(fqdn_map) or None)
    except ApiException as exc:
        if exc.status != 404:
            raise
