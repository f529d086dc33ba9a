"""Writing a VIP back to a Service or an Ingress: status, the FQDN map annotation and an Event.

L4 and L7 write the same three things, and both skip what Kubernetes already shows, so that a
restart with nothing changed makes no Kubernetes call either. An object deleted meanwhile (404)
needs no status. An empty `ingress` and map clear what akod wrote. When a Service's status and
map both change, they go in one patch of its status subresource (one apiserver write and one
watch event fewer; see `patch_service_status_and_fqdn_map`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from akod.kube import post_event
from akod.kube.status import (
    patch_ingress_fqdn_map,
    patch_ingress_lb_status,
    patch_service_fqdn_map,
    patch_service_lb_status,
    patch_service_status_and_fqdn_map,
)
from akod.model.problems import ObjectRef

PATCHES = {"Service": (patch_service_lb_status, patch_service_fqdn_map),
           "Ingress": (patch_ingress_lb_status, patch_ingress_fqdn_map)}
# Status and map in one write (Services only so far; an Ingress gets two).
BOTH = {"Service": patch_service_status_and_fqdn_map}


async def write_back(*, api: ApiClient, obj: ObjectRef, body: Mapping[str, Any], ingress: Sequence[Mapping[str, str]],
                     fqdn_map: Mapping[str, str], event: str = "") -> None:
    """Make `obj` (whose trimmed `body` has `lb_ingress`, `fqdn_map`, `uid`) show `ingress` and `fqdn_map`.

    `event` is the message of the `Synced` Event posted when the status changes to a non-empty one.
    """
    patch_status, patch_map = PATCHES[obj.kind]
    patch_both = BOTH.get(obj.kind)
    try:
        current = json.loads(body["fqdn_map"]) if body.get("fqdn_map") else {}
        map_differs = current != dict(fqdn_map)
        if list(body.get("lb_ingress") or []) != list(ingress):
            if map_differs and patch_both is not None:
                await patch_both(api=api, namespace=obj.namespace, name=obj.name, ingress=ingress,
                                 fqdn_map=dict(fqdn_map) or None)
                map_differs = False
            else:
                await patch_status(api=api, namespace=obj.namespace, name=obj.name, ingress=ingress)
            if ingress and event:
                await post_event(api=api, obj=obj, uid=str(body.get("uid", "")), reason="Synced", warning=False,
                                 message=event)
        if map_differs:
            await patch_map(api=api, namespace=obj.namespace, name=obj.name, fqdn_map=dict(fqdn_map) or None)
    except ApiException as exc:
        if exc.status != 404:
            raise
