"""What akod needs to know about the controller before it writes anything, checked at start.

The cloud, the SE group and the VRF must exist; the VRF is `[controller] vrf`, else the VRF of
the first VIP network (AKO logs "Setting VRF <vrf> found from network <network>"). With static
routes on, the SE group is labelled `clustername=<cluster>` so that its Service Engines pick up this
cluster's routes only; a group that carries another cluster's label is refused, because two
clusters' routes on one group would send pod traffic to the wrong cluster. Mismatches raise
`ControllerMismatch`, whose message names the config key; `akod run` exits 2 on it and
`akod check` exits 3.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from akod.avi import AviClient, AviPreconditionFailed
from akod.config import Settings
from akod.model.routes import CLUSTER_LABEL

log = logging.getLogger("akod.sync")
ADMIN = "admin"
HEALTHY_CLUSTER_STATES = ("CLUSTER_UP_NO_HA", "CLUSTER_UP_HA_ACTIVE", "CLUSTER_UP_HA_COMPROMISED")


class ControllerMismatch(Exception):
    """The controller does not have what the configuration names."""


class ControllerNotReady(Exception):
    """The controller answers but is not up (cluster state not UP)."""


@dataclass(frozen=True, slots=True)
class ControllerContext:
    """What discovery learnt: where routes go, the SE group and cloud, and the licence tier."""

    vrf: str
    vrf_uuid: str
    vrf_source: str
    se_group_uuid: str
    cloud_uuid: str
    # `/api/systemconfiguration` `default_license_tier` (AKO reads the same): ENTERPRISE, ENTERPRISE_16,
    # ENTERPRISE_18, ENTERPRISE_WITH_CLOUD_SERVICES, ESSENTIALS or BASIC. Decides the TCP profile.
    license_tier: str = "ENTERPRISE"

    @property
    def enterprise(self) -> bool:
        return self.license_tier.startswith("ENTERPRISE")


def routes_enabled(settings: Settings) -> bool:
    return not settings.routes.disable_static_route_sync and settings.l7.service_type == "ClusterIP"


def _uuid_from_ref(ref: str) -> str:
    return ref.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]


async def _one(client: AviClient, obj_type: str, *, name: str, cloud: str | None, key: str) -> dict[str, Any]:
    params = {"name": name}
    if cloud is not None:
        params["cloud_ref.name"] = cloud
    found = await client.list(obj_type, params=params, tenant=ADMIN)
    if not found:
        where = f" in cloud '{cloud}'" if cloud else ""
        raise ControllerMismatch(f"{key}: {obj_type} '{name}' does not exist on the controller{where}")
    return found[0]


async def check_cluster_up(client: AviClient) -> None:
    runtime = await client.get("/api/cluster/runtime")
    state = str((runtime.get("cluster_state") or {}).get("state", ""))
    if state not in HEALTHY_CLUSTER_STATES:
        raise ControllerNotReady(f"the controller cluster is {state or 'in an unknown state'}, not up")


async def discover(*, client: AviClient, settings: Settings, label_se_group: bool = True) -> ControllerContext:
    ctl = settings.controller
    await check_cluster_up(client)
    cloud = await _one(client, "cloud", name=ctl.cloud, cloud=None, key="[controller] cloud")
    if ctl.vrf:
        vrf = await _one(client, "vrfcontext", name=ctl.vrf, cloud=ctl.cloud, key="[controller] vrf")
        source = "[controller] vrf"
    else:
        if not settings.network.vip_networks:
            raise ControllerMismatch("[network] vip_networks: empty, and [controller] vrf is not set: no VRF for routes")
        net_name = settings.network.vip_networks[0].name
        network = await _one(client, "network", name=net_name, cloud=ctl.cloud, key="[network] vip_networks[0].name")
        ref = network.get("vrf_context_ref")
        if not ref:
            raise ControllerMismatch(f"[network] vip_networks[0].name: network '{net_name}' has no VRF")
        vrf = await client.get(f"/api/vrfcontext/{_uuid_from_ref(str(ref))}", tenant=ADMIN)
        source = f"network {net_name}"
        log.info("Setting VRF %s found from network %s", vrf["name"], net_name)
    seg = await _one(client, "serviceenginegroup", name=ctl.se_group, cloud=ctl.cloud, key="[controller] se_group")
    if label_se_group and routes_enabled(settings):
        seg = await ensure_se_group_label(client=client, seg=seg, cluster=settings.cluster.name)
    tier = await license_tier(client=client, cloud=cloud)
    return ControllerContext(
        vrf=str(vrf["name"]), vrf_uuid=str(vrf["uuid"]), vrf_source=source,
        se_group_uuid=str(seg["uuid"]), cloud_uuid=str(cloud["uuid"]), license_tier=tier,
    )


async def license_tier(*, client: AviClient, cloud: dict[str, Any]) -> str:
    """The controller's licence tier: the system default (as AKO reads it), else the cloud's own."""
    system = await client.get("/api/systemconfiguration", tenant=ADMIN)
    tier = str(system.get("default_license_tier") or cloud.get("license_tier") or "")
    if not tier:
        log.warning("the controller names no licence tier (systemconfiguration default_license_tier); "
                    "assuming ENTERPRISE")
        return "ENTERPRISE"
    log.info("licence tier %s", tier)
    return tier


def se_group_owner(seg: dict[str, Any]) -> str | None:
    for label in seg.get("labels") or []:
        if label.get("key") == CLUSTER_LABEL:
            return str(label.get("value", ""))
    return None


async def ensure_se_group_label(*, client: AviClient, seg: dict[str, Any], cluster: str) -> dict[str, Any]:
    for _ in range(5):
        owner = se_group_owner(seg)
        if owner == cluster:
            return seg
        if owner is not None:
            raise ControllerMismatch(
                f"[controller] se_group: SE group '{seg['name']}' is labelled {CLUSTER_LABEL}={owner}, "
                f"another cluster's; give cluster '{cluster}' its own SE group (AKO: one SE group per cluster)"
            )
        body = dict(seg)
        body["labels"] = [*(seg.get("labels") or []), {"key": CLUSTER_LABEL, "value": cluster}]
        try:
            seg = await client.put("serviceenginegroup", str(seg["uuid"]), body, tenant=ADMIN)
            log.info("labelled SE group %s with %s=%s", seg["name"], CLUSTER_LABEL, cluster)
            return seg
        except AviPreconditionFailed:
            seg = await client.get(f"/api/serviceenginegroup/{seg['uuid']}", tenant=ADMIN)
    raise ControllerMismatch(f"[controller] se_group: SE group '{seg['name']}' kept changing while labelling it")
