"""What the controller computes into particular object types on every write.

Validation fills the defaults written in the schema; some fields a real controller fills from
its own state instead: a VsVip's `vip_id`s and (with IPAM) its addresses, a virtual service's SE
group, profiles and VRF (from its VsVip), a pool's VRF and server host names, the parsed
description of an uploaded certificate. The recordings show each of them; keeping them in one
module per concern keeps the generic CRUD path free of per-type branches.
"""

from __future__ import annotations

from typing import Any

from akod.emulator.certs import describe_certificate
from akod.emulator.errors import bad_request
from akod.emulator.ipam import Claim, Ipam, address_text, prefix_network
from akod.emulator.refs import Ref, find_visible, parse_ref
from akod.emulator.store import Store, StoredObject

DEFAULT_CLOUD = "Default-Cloud"
GLOBAL_VRF = "global"

#: Profiles a virtual service gets when the client names none (cassette test_ssl_vs).
_VS_DEFAULTS = (
    ("se_group_ref", "serviceenginegroup", ("Default-Group",)),
    ("application_profile_ref", "applicationprofile", ("System-HTTP",)),
    ("network_profile_ref", "networkprofile", ("System-TCP-Proxy",)),
    ("analytics_profile_ref", "analyticsprofile", ("System-Analytics-Profile",)),
)
_SSL_PROFILES = ("System-Standard-PFS", "System-Standard")


def _lookup(
    store: Store, obj_type: str, names: tuple[str, ...], tenant: str, cloud: str | None
) -> Ref | None:
    for name in names:
        obj = find_visible(store=store, obj_type=obj_type, name=name, tenant=tenant, cloud=cloud)
        if obj is not None:
            return Ref(obj.type, obj.uuid)
    return None


def default_cloud(*, store: Store, obj_type: str, raw: dict[str, Any], tenant: str) -> StoredObject | None:
    """The cloud of an object written without `cloud_ref`: its VsVip's, else `Default-Cloud`."""
    if obj_type == "virtualservice" and isinstance(raw.get("vsvip_ref"), str):
        parsed = parse_ref(raw["vsvip_ref"])
        if parsed is not None and parsed.uuid is not None:
            vsvip = store.get(parsed.uuid)
            if vsvip is not None and vsvip.cloud is not None:
                return store.get(vsvip.cloud)
    return find_visible(store=store, obj_type="cloud", name=DEFAULT_CLOUD, tenant=tenant, cloud=None)


def prepare(obj_type: str, raw: dict[str, Any]) -> None:
    """Before validation: fields the controller assigns that the schema marks required."""
    if obj_type == "vsvip" and isinstance(raw.get("vip"), list):
        vips = [v for v in raw["vip"] if isinstance(v, dict)]
        used = {str(v["vip_id"]) for v in vips if v.get("vip_id") is not None}
        counter = 0
        for vip in vips:
            if vip.get("vip_id") is None:
                while str(counter) in used:
                    counter += 1
                vip["vip_id"] = str(counter)
                used.add(str(counter))


def complete(
    *, store: Store, obj_type: str, body: dict[str, Any], tenant: str, cloud: str | None
) -> None:
    """After validation: server-computed fields, each only when the client left it out."""
    if obj_type == "virtualservice":
        _complete_virtualservice(store, body, tenant, cloud)
    elif obj_type == "pool":
        if "vrf_ref" not in body:
            _set(body, "vrf_ref", _lookup(store, "vrfcontext", (GLOBAL_VRF,), tenant, cloud))
        if "analytics_profile_ref" not in body:
            ref = _lookup(store, "analyticsprofile", ("System-Analytics-Profile",), tenant, cloud)
            _set(body, "analytics_profile_ref", ref)
        for server in body.get("servers") or []:
            ip = server.get("ip")
            if "hostname" not in server and isinstance(ip, dict) and "addr" in ip:
                server["hostname"] = ip["addr"]
    elif obj_type in ("vsvip", "network"):
        if "vrf_context_ref" not in body:
            from_network = _vip_network_vrf(store, body) if obj_type == "vsvip" else None
            body["vrf_context_ref"] = from_network or _lookup(
                store, "vrfcontext", (GLOBAL_VRF,), tenant, cloud
            )
            if body["vrf_context_ref"] is None:
                del body["vrf_context_ref"]
    elif obj_type == "sslkeyandcertificate":
        _complete_certificate(body)


def _vip_network_vrf(store: Store, body: dict[str, Any]) -> Ref | None:
    """A VsVip placed in a network lives in that network's VRF."""
    for vip in body.get("vip") or []:
        ins = vip.get("ipam_network_subnet") or {}
        ref = ins.get("network_ref") or vip.get("network_ref")
        network = store.get(ref.uuid) if isinstance(ref, Ref) else None
        vrf = network.body.get("vrf_context_ref") if network is not None else None
        if isinstance(vrf, Ref):
            return vrf
    return None


def _set(body: dict[str, Any], key: str, ref: Ref | None) -> None:
    if ref is not None:
        body[key] = ref


def _complete_virtualservice(
    store: Store, body: dict[str, Any], tenant: str, cloud: str | None
) -> None:
    vsvip_ref = body.get("vsvip_ref")
    vsvip = store.get(vsvip_ref.uuid) if isinstance(vsvip_ref, Ref) else None
    if "vrf_context_ref" not in body:
        from_vip = vsvip.body.get("vrf_context_ref") if vsvip is not None else None
        if isinstance(from_vip, Ref):
            body["vrf_context_ref"] = from_vip
        else:
            _set(body, "vrf_context_ref", _lookup(store, "vrfcontext", (GLOBAL_VRF,), tenant, cloud))
    for key, obj_type, names in _VS_DEFAULTS:
        if key not in body:
            _set(body, key, _lookup(store, obj_type, names, tenant, cloud))
    services = body.get("services") or []
    for service in services:
        if "port" in service and "port_range_end" not in service:
            service["port_range_end"] = service["port"]
    if "ssl_profile_ref" not in body and any(s.get("enable_ssl") for s in services):
        _set(body, "ssl_profile_ref", _lookup(store, "sslprofile", _SSL_PROFILES, tenant, cloud))


def _complete_certificate(body: dict[str, Any]) -> None:
    certificate = body.get("certificate")
    if not isinstance(certificate, dict) or not certificate.get("certificate"):
        return
    described = describe_certificate(certificate["certificate"])
    key_params = described.pop("_key_params", None)
    body["certificate"] = {**certificate, **described}
    if key_params is not None and "key_params" not in body:
        body["key_params"] = key_params
    body.setdefault("status", "SSL_CERTIFICATE_FINISHED")


def assign_vips(
    *,
    store: Store,
    ipam: Ipam,
    owner: str,
    body: dict[str, Any],
    tenant: str,
    cloud: str | None,
    previous: StoredObject | None,
) -> None:
    """IPAM for a VsVip being written: claim addresses for auto-allocated vips, free the rest.

    All-or-nothing: an error leaves the addresses held before this write untouched.
    """
    before = ipam.held_by(owner)
    old_by_vip: dict[str, str] = {}
    if previous is not None:
        for vip in previous.body.get("vip") or []:
            addr = (vip.get("ip_address") or {}).get("addr")
            if vip.get("auto_allocate_ip") and addr:
                old_by_vip[str(vip.get("vip_id"))] = addr
    claims: set[Claim] = set()
    try:
        for vip in body.get("vip") or []:
            if not vip.get("auto_allocate_ip"):
                continue
            network, subnet = _ipam_network(store, vip, tenant, cloud)
            requested = (vip.get("ip_address") or {}).get("addr")
            if requested is None:
                kept = old_by_vip.get(str(vip.get("vip_id")))
                if kept is not None and ipam.holder(network.uuid, kept) == owner:
                    requested = kept
            claim = ipam.claim(
                owner=owner,
                network_uuid=network.uuid,
                network_name=network.name,
                network_body=network.body,
                subnet=subnet,
                requested=requested,
            )
            claims.add(claim)
            vip["ip_address"] = {"addr": address_text(claim.address), "type": "V4"}
            vip["avi_allocated_vip"] = True
    except Exception:
        ipam.keep_only(owner, before)
        raise
    ipam.keep_only(owner, claims)


def _ipam_network(
    store: Store, vip: dict[str, Any], tenant: str, cloud: str | None
) -> tuple[StoredObject, Any]:
    """The network (and optional subnet) a vip allocates from."""
    ins = vip.get("ipam_network_subnet") or {}
    ref = ins.get("network_ref") or vip.get("network_ref")
    if isinstance(ref, Ref):
        network = store.get(ref.uuid)
        if network is not None:
            return network, prefix_network(ins.get("subnet") or vip.get("subnet"))
    # No network named: the cloud's IPAM profile lists the usable networks (first one wins).
    cloud_obj = store.get(cloud) if cloud else None
    profile_ref = cloud_obj.body.get("ipam_provider_ref") if cloud_obj is not None else None
    profile = store.get(profile_ref.uuid) if isinstance(profile_ref, Ref) else None
    usable = ((profile.body.get("internal_profile") or {}).get("usable_networks") or []) if profile else []
    for entry in usable:
        nw_ref = entry.get("nw_ref")
        network = store.get(nw_ref.uuid) if isinstance(nw_ref, Ref) else None
        if network is not None:
            return network, None
    raise bad_request(
        "Cannot allocate a VIP: no ipam_network_subnet.network_ref and the cloud has no IPAM network"
    )
