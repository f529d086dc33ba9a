"""What the controller holds of this cluster's objects: read at start, by the drift check, by cleanup.

Every object akod creates carries `created_by: ako-<cluster>` and its desired checksum, so the
controller alone says what akod has applied: after a crash, after a lost database, after someone
edited or deleted objects by hand. Reading it costs one paged list per object type, with `fields=`
so that only the name, uuid, `_last_modified`, checksum and the few fields the sync reads come back.

A VsVip has no `created_by`, and its name is no proof: anybody may name one `<cluster>--...`. So
a VsVip is akod's only when akod can show it made it: the state database recorded it (applied,
desired or journaled), or one of akod's own virtual services refers to it, or it carries akod's
`clustername` marker (API 20.1.5 on). Any other VsVip, whatever its name, is never listed here,
so never deleted by garbage collection or cleanup, and never written.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from akod.avi import AviClient
from akod.model.objects import checksum_field, role_on_controller, stored_checksum
from akod.model.routes import CLUSTER_LABEL
from akod.store import Applied, Store
from akod.sync.owned import applied_info

log = logging.getLogger("akod.sync")
# Beyond name, uuid and checksum: what `applied_info`, `stored_checksum` and VsVip ownership read.
EXTRA_FIELDS = {"vsvip": ["vip", "markers"], "httppolicyset": ["http_request_policy", "description"],
                "sslkeyandcertificate": ["certificate", "type"], "virtualservice": ["type", "vsvip_ref"],
                "pkiprofile": ["ca_certs", "crl_check"]}
# Virtual services first: which VsVips they refer to decides which VsVips are ours.
OWNED_TYPES = ("virtualservice", "l4policyset", "httppolicyset", "poolgroup", "pool", "sslkeyandcertificate", "vsvip",
               "pkiprofile")


def _uuid_of(ref: Any) -> str:
    return str(ref or "").split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _marked(body: dict[str, Any], cluster: str) -> bool:
    return any(m.get("key") == CLUSTER_LABEL and cluster in (m.get("values") or []) for m in body.get("markers") or [])


async def controller_inventory(*, client: AviClient, cluster: str, cloud: str, tenant: str,
                               recorded_vsvips: Collection[str] = ()) -> list[Applied]:
    """This cluster's objects on the controller (VsVips: only those akod can show it made)."""
    found: list[Applied] = []
    referred: set[str] = set()  # uuids of the VsVips akod's virtual services use
    recorded = set(recorded_vsvips)
    for obj_type in OWNED_TYPES:
        if obj_type == "vsvip":
            params = {"name.contains": f"{cluster}--", "cloud_ref.name": cloud}
        elif obj_type in ("virtualservice", "pool", "poolgroup"):
            params = {"created_by": f"ako-{cluster}", "cloud_ref.name": cloud}
        else:
            params = {"created_by": f"ako-{cluster}"}
        wanted = ["name", "uuid", "_last_modified", checksum_field(obj_type)]
        wanted += EXTRA_FIELDS.get(obj_type, [])
        params["fields"] = ",".join(dict.fromkeys(wanted))
        for body in await client.list(obj_type, params=params, tenant=tenant):
            name, uuid = str(body.get("name", "")), str(body.get("uuid", ""))
            if obj_type == "virtualservice" and body.get("vsvip_ref"):
                referred.add(_uuid_of(body["vsvip_ref"]))
            if obj_type == "vsvip" and not (name.startswith(f"{cluster}--")
                                            and (name in recorded or uuid in referred or _marked(body, cluster))):
                continue  # a VsVip akod cannot show it made: not ours, whatever its name says
            found.append(Applied(
                obj_type=obj_type, tenant=tenant, name=name, uuid=uuid, checksum=stored_checksum(obj_type, body),
                last_modified=str(body.get("_last_modified", "")), info=applied_info(obj_type, body),
                role=role_on_controller(obj_type, body),
            ))
    return found


async def rebuild_applied(*, client: AviClient, store: Store, cluster: str, cloud: str,
                          tenant: str) -> list[Applied]:
    """The applied state replaced by the controller's objects of this cluster; those objects."""
    objects = await controller_inventory(client=client, cluster=cluster, cloud=cloud, tenant=tenant,
                                         recorded_vsvips=await store.recorded_names(obj_type="vsvip"))
    await store.replace_applied(objects=objects, types=OWNED_TYPES)
    log.info("found %d objects of cluster %s on the controller", len(objects), cluster)
    return objects
