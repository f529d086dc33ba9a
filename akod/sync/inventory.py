"""Rebuilding the applied state from the controller's own copy, at start.

Every object akod creates carries `created_by: ako-<cluster>` (VsVips, which have no such field,
carry the `clustername` marker and the `<cluster>--` name prefix) and its desired checksum. So the
controller alone says what akod has applied: after a crash, after a lost database, after someone
edited or deleted objects by hand. Reading it costs one paged list per object type; comparing
checksums afterwards costs nothing, which is how a restart with nothing changed makes no write.
"""

from __future__ import annotations

import logging
from akod.avi import AviClient
from akod.model.objects import checksum_field, role_on_controller, stored_checksum
from akod.store import Applied, Store
from akod.sync.owned import applied_info

log = logging.getLogger("akod.sync")
# Beyond name, uuid and checksum: what `applied_info` and `stored_checksum` read.
EXTRA_FIELDS = {"vsvip": ["vip"], "httppolicyset": ["http_request_policy", "description"],
                "sslkeyandcertificate": ["certificate", "type"], "virtualservice": ["type"]}
OWNED_TYPES = ("virtualservice", "l4policyset", "httppolicyset", "poolgroup", "pool", "sslkeyandcertificate", "vsvip")


async def controller_inventory(*, client: AviClient, cluster: str, cloud: str, tenant: str) -> list[Applied]:
    found: list[Applied] = []
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
            if obj_type == "vsvip" and not str(body.get("name", "")).startswith(f"{cluster}--"):
                continue  # VsVips have no created_by: AKO finds them by the name prefix
            found.append(Applied(
                obj_type=obj_type, tenant=tenant, name=str(body["name"]), uuid=str(body["uuid"]),
                checksum=stored_checksum(obj_type, body),
                last_modified=str(body.get("_last_modified", "")), info=applied_info(obj_type, body),
                role=role_on_controller(obj_type, body),
            ))
    return found


async def rebuild_applied(*, client: AviClient, store: Store, cluster: str, cloud: str,
                          tenant: str) -> list[Applied]:
    """The applied state replaced by the controller's objects of this cluster; those objects."""
    objects = await controller_inventory(client=client, cluster=cluster, cloud=cloud, tenant=tenant)
    await store.replace_applied(objects=objects, types=OWNED_TYPES)
    log.info("found %d objects of cluster %s on the controller", len(objects), cluster)
    return objects
