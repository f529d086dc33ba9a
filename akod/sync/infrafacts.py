"""What the controller says about the SE group and networks an AviInfraSetting names.

AKO checks that they exist (`checkRefsOnController`: a GET by name) and then reads the networks
again to place the VIPs (`PopulateVipNetworkwithUUID`). akod does it in one paced GET by name per
object (`Inputs.avi_get`, in the configured cloud, refs with their names), and keeps from the
answers what the effect needs and the spec does not say: the VRF of the first VIP network (a VsVip
lives in its network's VRF, and its VS and pools with it) and the first subnet of each network
named without CIDRs. Those facts are recorded with the effect (`avi` in its body), so the
translation stays pure and a restart needs the controller for nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from akod.avi import AviClient
from akod.avi.errors import AviAmbiguousName, AviNotFound

AviGet = Callable[[str, str], Awaitable[dict[str, Any] | None]]
CLOUD_SCOPED = ("network", "serviceenginegroup")


def avi_getter(client: AviClient, *, cloud: str) -> AviGet:
    async def get(obj_type: str, name: str) -> dict[str, Any] | None:
        params = {"include_name": "true"}
        if obj_type in CLOUD_SCOPED and cloud:
            params["cloud_ref.name"] = cloud
        try:
            return await client.get_by_name(obj_type, name, params=params)
        except AviAmbiguousName:
            found = await client.list(obj_type, params={**params, "name": name})
            return found[0] if found else None
        except AviNotFound:
            return None

    return get


def ref_name(ref: Any) -> str:
    """The name of a ref read with `include_name` (`.../api/vrfcontext/<uuid>#VRF_AZ2`)."""
    text = str(ref or "")
    return text.split("#", 1)[1] if "#" in text else ""


def first_subnet(network: Mapping[str, Any], version: int = 4) -> str:
    for subnet in network.get("configured_subnets") or []:
        prefix = subnet.get("prefix") or {}
        addr = (prefix.get("ip_addr") or {})
        if addr.get("type", "V4") == f"V{version}" and addr.get("addr") and prefix.get("mask") is not None:
            return f"{addr['addr']}/{prefix['mask']}"
    return ""
