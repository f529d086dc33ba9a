"""The bodies of the L7 objects, shaped as the controller accepts them (reference §3.2, §3.3).

As for L4 (`l4bodies`), every field exists in the 20.1 object model, every reference is by name,
and the checksum is added by `AviObject.payload()`. The VsVip and the pool reuse the L4 bodies:
an L7 VIP is allocated exactly like an L4 one, and an L7 pool has the same servers, only other
markers and metadata (and no health monitor: AKO gives L7 pools none unless an HTTPRule asks).

Ownership: `created_by: ako-<cluster>` on everything but the VsVip; markers `clustername` only on
the shared objects (shard VS, VsVip, policy set), plus `Namespace`, `Host`, `Path`,
`IngressName`, `ServiceName` where the object belongs to one of them. `service_metadata` on pools
and SNI children names the Ingresses and hosts, so that status can be rebuilt from the
controller alone. A certificate's private key is put in `AviObject.secret`, never in `body`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from akod.model.checksums import canonical_json
from akod.model.l4bodies import markers, pool_body, vsvip_body
from akod.model.l4members import PoolMembers, ServicePort
from akod.model.l7context import L7Context
from akod.model.nodes import IPAddress
from akod.model.objects import AviObject, Role, name_ref
from akod.model.problems import ObjectRef

HTTP_PROFILE = "System-HTTP"
SECURE_HTTP_PROFILE = "System-Secure-HTTP"
TCP_PROXY_PROFILE = "System-TCP-Proxy"
DEFAULT_CERT = "System-Default-Cert"
POLICY_INDEX = 11  # AKO's first http_policies index on a virtual service
POOL_RATIO = 100


def _common(ctx: L7Context, name: str) -> dict[str, Any]:
    return {"name": name, "tenant_ref": name_ref("tenant", ctx.tenant), "cloud_ref": name_ref("cloud", ctx.l4.cloud)}


def _placed(ctx: L7Context, body: dict[str, Any]) -> dict[str, Any]:
    body["se_group_ref"] = name_ref("serviceenginegroup", ctx.l4.se_group)
    if ctx.l4.vrf:
        body["vrf_context_ref"] = name_ref("vrfcontext", ctx.l4.vrf)
    return body


def _policies(names: Sequence[str]) -> list[dict[str, Any]]:
    return [{"index": POLICY_INDEX + i, "http_policy_set_ref": name_ref("httppolicyset", n)} for i, n in enumerate(names)]


def vsvip(*, name: str, ctx: L7Context, hosts: Sequence[str], preferred: IPAddress | None = None) -> AviObject:
    """`preferred`: a static VIP (a dedicated VS's HostRule `tcpSettings.loadBalancerIP`)."""
    body = vsvip_body(name=name, ctx=ctx.l4, preferred=preferred, versions=frozenset({4}), fqdns=sorted(hosts))
    return AviObject("vsvip", ctx.tenant, name, body)


def shard_vs(*, name: str, ctx: L7Context) -> AviObject:
    """The shared parent: ports 80 and 443, the system certificate, the shard policy set."""
    body = _placed(ctx, _common(ctx, name))
    body.update({
        "type": "VS_TYPE_VH_PARENT",
        "vsvip_ref": name_ref("vsvip", name),
        "services": [{"port": 80}, {"port": 443, "enable_ssl": True}],
        "application_profile_ref": name_ref("applicationprofile", HTTP_PROFILE),
        "network_profile_ref": name_ref("networkprofile", TCP_PROXY_PROFILE),
        "ssl_key_and_certificate_refs": [name_ref("sslkeyandcertificate", DEFAULT_CERT)],
        "http_policies": _policies([name]),
        "created_by": ctx.created_by,
        "markers": markers(ctx.cluster),
    })
    return AviObject("virtualservice", ctx.tenant, name, body, role=Role.SHARD_VS)


def dedicated_vs(*, name: str, ctx: L7Context, host: str, certificate: str) -> AviObject:
    """One host's own VS; with a certificate it also listens on 443 (80 is redirected by its policy set)."""
    body = _placed(ctx, _common(ctx, name))
    services: list[dict[str, Any]] = [{"port": 80}]
    if certificate:
        services.append({"port": 443, "enable_ssl": True})
    body.update({
        "type": "VS_TYPE_NORMAL",
        "vsvip_ref": name_ref("vsvip", name),
        "services": services,
        "application_profile_ref": name_ref("applicationprofile", SECURE_HTTP_PROFILE if certificate else HTTP_PROFILE),
        "network_profile_ref": name_ref("networkprofile", TCP_PROXY_PROFILE),
        "http_policies": _policies([name]),
        "created_by": ctx.created_by,
        "markers": markers(ctx.cluster, ("Host", host)),
    })
    if certificate:
        body["ssl_key_and_certificate_refs"] = [name_ref("sslkeyandcertificate", certificate)]
    return AviObject("virtualservice", ctx.tenant, name, body, role=Role.DEDICATED_VS)


def sni_child(*, name: str, ctx: L7Context, parent: str, host: str, certificate: str, policy_sets: Sequence[str],
              ingresses: Sequence[str], subjects: tuple[ObjectRef, ...] = ()) -> AviObject:
    """A TLS host's child of its shard's VS: the certificate and one policy set per namespace."""
    body = _placed(ctx, _common(ctx, name))
    body.update({
        "type": "VS_TYPE_VH_CHILD",
        "vh_parent_vs_ref": name_ref("virtualservice", parent),
        "vh_domain_name": [host],
        "application_profile_ref": name_ref("applicationprofile", SECURE_HTTP_PROFILE),
        "network_profile_ref": name_ref("networkprofile", TCP_PROXY_PROFILE),
        "east_west_placement": False,
        "ign_pool_net_reach": False,
        "ssl_key_and_certificate_refs": [name_ref("sslkeyandcertificate", certificate)],
        "http_policies": _policies(policy_sets),
        "created_by": ctx.created_by,
        "service_metadata": canonical_json({"namespace_ingress_name": list(ingresses), "hostnames": [host]}),
        "markers": markers(ctx.cluster, ("Host", host)),
    })
    return AviObject("virtualservice", ctx.tenant, name, body, role=Role.SNI_CHILD, subjects=subjects)


def certificate(*, name: str, ctx: L7Context, host: str, cert_pem: str, key_pem: str,
                subjects: tuple[ObjectRef, ...] = ()) -> AviObject:
    """The host's certificate; the key only in `secret` (sent, never stored, not in the checksum)."""
    body = {
        "name": name,
        "tenant_ref": name_ref("tenant", ctx.tenant),
        "type": "SSL_CERTIFICATE_TYPE_VIRTUALSERVICE",
        "certificate": {"certificate": cert_pem},
        "created_by": ctx.created_by,
        "markers": markers(ctx.cluster, ("Host", host)),
    }
    return AviObject("sslkeyandcertificate", ctx.tenant, name, body, secret={"key": key_pem}, subjects=subjects)


def policy_set(*, name: str, ctx: L7Context, rules: Sequence[dict[str, Any]], namespace: str = "",
               host: str = "", subjects: tuple[ObjectRef, ...] = ()) -> AviObject:
    body = {
        "name": name,
        "tenant_ref": name_ref("tenant", ctx.tenant),
        "created_by": ctx.created_by,
        "http_request_policy": {"rules": list(rules)},
        "markers": markers(ctx.cluster, ("Namespace", namespace), ("Host", host)),
    }
    return AviObject("httppolicyset", ctx.tenant, name, body, subjects=subjects)


def _route_markers(ctx: L7Context, *, namespace: str, ingress: str, host: str, path: str,
                   service: str = "") -> list[dict[str, Any]]:
    return markers(ctx.cluster, ("Namespace", namespace), ("Host", host), ("Path", path), ("IngressName", ingress),
                   ("ServiceName", service))


def pool(*, name: str, ctx: L7Context, namespace: str, ingress: str, host: str, path: str, service: str,
         port: ServicePort, members: PoolMembers) -> AviObject:
    body = pool_body(name=name, ctx=ctx.l4, namespace=namespace, service=service, port=port, members=members,
                     hostnames=[host], shared_key="")
    body.pop("health_monitor_refs", None)
    body["service_metadata"] = canonical_json({"ingress_name": ingress, "namespace": namespace, "hostnames": [host]})
    body["markers"] = _route_markers(ctx, namespace=namespace, ingress=ingress, host=host, path=path, service=service)
    return AviObject("pool", ctx.tenant, name, body, subjects=(_ingress(namespace, ingress),))


def pool_group(*, name: str, ctx: L7Context, pool_name: str, namespace: str, ingress: str, host: str,
               path: str) -> AviObject:
    body = _common(ctx, name)
    body.update({
        "members": [{"pool_ref": name_ref("pool", pool_name), "ratio": POOL_RATIO}],
        "created_by": ctx.created_by,
        "markers": _route_markers(ctx, namespace=namespace, ingress=ingress, host=host, path=path),
    })
    return AviObject("poolgroup", ctx.tenant, name, body, subjects=(_ingress(namespace, ingress),))


def _ingress(namespace: str, name: str) -> ObjectRef:
    return ObjectRef(kind="Ingress", namespace=namespace, name=name)
