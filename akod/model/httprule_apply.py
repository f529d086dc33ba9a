"""How the accepted HTTPRules change the pools of their host (AKO's `BuildPoolHTTPRule`).

Which pools, and how several targets combine, is `httprule.HTTPRules.for_pool`. The Avi fields
each HTTPRule field sets on a pool:

- `loadBalancerPolicy.algorithm` -> `lb_algorithm`; with `LB_ALGORITHM_CONSISTENT_HASH`, `hash`
  -> `lb_algorithm_hash`, and with `LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER`, `hostHeader` ->
  `lb_algorithm_consistent_hash_hdr`;
- `healthMonitors` -> `health_monitor_refs` (an L7 pool has none without an HTTPRule);
- `applicationPersistence` -> `application_persistence_profile_ref`;
- `tls` (`type: reencrypt`) -> `sni_enabled: true`, `ssl_profile_ref` (`sslProfile`, else
  `System-Standard` as AKO) and `pki_profile_ref`: the Avi PKI profile `pkiProfile` names, or,
  for `destinationCA`, a PKI profile akod makes for the pool (`<pool>-pkiprofile`, AKO's name),
  holding that CA (`ca_certs`, `crl_check: false`, as AKO's `AviPkiProfileBuild`);
- `enableHTTP2` -> `enable_http2`.

The PKI profile akod makes is one of the key's owned objects like a certificate made from a
Secret: `created_by` akod, the pool's markers, written before the pool that refers to it (`RANK`)
and deleted after it, garbage collected when nothing wants it. Removing the HTTPRule gives back
exactly the pool akod makes without it: the settings are applied on top of that body.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from akod.model.httprule import CONSISTENT_HASH, CUSTOM_HEADER, DEFAULT_POOL_SSL_PROFILE, PoolSettings
from akod.model.l7context import L7Context
from akod.model.objects import AviObject, name_ref

PKI_SUFFIX = "-pkiprofile"


def pki_profile_name(pool: str) -> str:
    """AKO's `GetPoolPKIProfileName`: the PKI profile made from a `destinationCA` for `pool`."""
    return pool + PKI_SUFFIX


def pki_profile(*, name: str, ctx: L7Context, ca_pem: str, markers: list[dict[str, Any]]) -> AviObject:
    """The PKI profile of a `destinationCA` (shaped as the `PKIProfile` definition of the API)."""
    body = {
        "name": name,
        "tenant_ref": name_ref("tenant", ctx.tenant),
        "created_by": ctx.created_by,
        "crl_check": False,
        "ca_certs": [{"certificate": ca_pem}],
        "markers": markers,
    }
    return AviObject("pkiprofile", ctx.tenant, name, body)


def apply_to_pool(obj: AviObject, settings: PoolSettings, *, pki: str = "") -> AviObject:
    """`obj` (an L7 pool) with `settings` applied; `pki` names akod's PKI profile for a destinationCA."""
    if not settings:
        return obj
    body = dict(obj.body)
    if settings.algorithm:
        body["lb_algorithm"] = settings.algorithm
        if settings.algorithm == CONSISTENT_HASH and settings.hash:
            body["lb_algorithm_hash"] = settings.hash
            if settings.hash == CUSTOM_HEADER and settings.host_header:
                body["lb_algorithm_consistent_hash_hdr"] = settings.host_header
    if settings.health_monitors:
        body["health_monitor_refs"] = [name_ref("healthmonitor", m) for m in settings.health_monitors]
    if settings.persistence:
        body["application_persistence_profile_ref"] = name_ref("applicationpersistenceprofile",
                                                               settings.persistence)
    if settings.reencrypt:
        body["sni_enabled"] = True
        body["ssl_profile_ref"] = name_ref("sslprofile", settings.ssl_profile or DEFAULT_POOL_SSL_PROFILE)
        profile = settings.pki_profile or (pki if settings.destination_ca else "")
        if profile:
            body["pki_profile_ref"] = name_ref("pkiprofile", profile)
    if settings.http2 is not None:
        body["enable_http2"] = settings.http2
    return dataclasses.replace(obj, body=body)


def with_http_rules(pool: AviObject, settings: PoolSettings, *, ctx: L7Context) -> tuple[AviObject, AviObject | None]:
    """The L7 pool with `settings` applied, and the PKI profile it refers to if akod makes one (with
    the pool's markers, as AKO's: cluster, namespace, host, path, Ingress, Service)."""
    if not (settings.reencrypt and settings.destination_ca and not settings.pki_profile):
        return apply_to_pool(pool, settings), None
    name = pki_profile_name(pool.name)
    profile = pki_profile(name=name, ctx=ctx, ca_pem=settings.destination_ca,
                          markers=[dict(m) for m in pool.body.get("markers") or []])
    return apply_to_pool(pool, settings, pki=name), profile
