"""The seed's Ingresses as L7 objects, and the builders the L7 tests share.

Seed: `hackazon.avi.iberia.local` -> hackazon:80 in plain HTTP and `kuard.avi.iberia.local` ->
kuard:8080 under TLS, cluster S1-AZ1 (the L4 seed's context). AKO's own L7 tests use cluster
`cluster`, namespace `default` and hosts foo.com/noo.com; `AKO` below is that context.
Bodies are the trimmed shapes of `akod.kube.trimming`; certificates are made with `cryptography`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import replace
from typing import Any

from akod.devenv.certs import self_signed
from akod.model.l7 import L7Context, L7Result, keys_of_ingress, shard_key, translate_l7
from akod.model.objects import AviObject
from akod.model.observed import Observed
from tests.unit.test_l4_seed import CTX as L4_CTX
from tests.unit.test_l4_seed import SEED_NODES, endpoint, ep_port, eps, port, service

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
SEED = L7Context(l4=L4_CTX, shards=8, default_ing_controller=True, now=NOW)
AKO = L7Context(l4=replace(L4_CTX, cluster="cluster", vrf="", vip_network="", vip_cidr=None), shards=8,
                default_ing_controller=True, now=NOW)

# -- certificates ------------------------------------------------------------------------------------------


def make_pair(host: str, *, valid_from: dt.datetime, valid_to: dt.datetime, rsa_key: bool = False,
              serial: int = 1) -> tuple[str, str]:
    """A self-signed (certificate PEM, key PEM) for `host`."""
    return self_signed(host, valid_from=valid_from, valid_to=valid_to, rsa_key=rsa_key, serial=serial)


@functools.cache
def valid_pair(host: str = "foo.com", serial: int = 1) -> tuple[str, str]:
    return make_pair(host, valid_from=NOW - dt.timedelta(days=30), valid_to=NOW + dt.timedelta(days=365),
                     serial=serial)


@functools.cache
def rsa_pair(host: str = "foo.com") -> tuple[str, str]:
    return make_pair(host, valid_from=NOW - dt.timedelta(days=30), valid_to=NOW + dt.timedelta(days=365),
                     rsa_key=True)


@functools.cache
def expired_pair(host: str = "foo.com") -> tuple[str, str]:
    return make_pair(host, valid_from=NOW - dt.timedelta(days=400), valid_to=NOW - dt.timedelta(days=1))


@functools.cache
def future_pair(host: str = "foo.com") -> tuple[str, str]:
    return make_pair(host, valid_from=NOW + dt.timedelta(days=1), valid_to=NOW + dt.timedelta(days=400))


def tls_secret(name: str, pair: tuple[str, str] | None = None, *, namespace: str = "default",
               material: dict[str, str] | None = None) -> Observed:
    """A trimmed TLS Secret: digest in the body, PEM only in `material`."""
    cert, key = pair or valid_pair()
    found = material if material is not None else {"tls.crt": cert, "tls.key": key}
    return Observed(kind="Secret", namespace=namespace, name=name, uid=f"uid-{name}", resource_version="1",
                    body={"name": name, "namespace": namespace, "type": "kubernetes.io/tls", "digest": "d"},
                    material=found)


# -- Kubernetes objects ------------------------------------------------------------------------------------


def path(at: str, svc: str, number: int | None = 80, *, name: str = "", path_type: str = "Prefix") -> dict[str, Any]:
    return {"path": at, "path_type": path_type, "service": svc, "port_number": None if name else number,
            "port_name": name}


def rule(host: str, *paths: dict[str, Any]) -> dict[str, Any]:
    return {"host": host, "paths": list(paths)}


def tls(secret: str, *hosts: str) -> dict[str, Any]:
    return {"hosts": list(hosts), "secret": secret}


def ingress(name: str, *rules: dict[str, Any], namespace: str = "default", tls_: list[dict[str, Any]] | None = None,
            class_name: str = "", created: str = "2026-01-01T00:00:00Z",
            default_backend: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}", "created": created,
            "annotations": {}, "class_name": class_name, "default_backend": default_backend, "rules": list(rules),
            "tls": list(tls_ or []), "lb_ingress": [], "fqdn_map": ""}


def backend(name: str, number: int = 80, *, namespace: str = "default", port_name: str = "", type_: str = "ClusterIP",
            node_port: int | None = None, target: int | str | None = None) -> dict[str, Any]:
    """A backend Service (ClusterIP unless told) with one port."""
    return service(name, namespace=namespace, type_=type_,
                   ports=[port(number, name=port_name, target=target, node_port=node_port)])


def svc_map(*services: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(s["namespace"], s["name"]): s for s in services}


def pods(svc: str, number: int, *ips: str, namespace: str = "default",
         name: str = "") -> dict[tuple[str, str], list[dict[str, Any]]]:
    return {(namespace, svc): [eps(svc, ([ep_port(number, name=name)], [endpoint(ip) for ip in ips]))]}


def key_of(ing: dict[str, Any], ctx: L7Context = AKO, host: str = "") -> str:
    keys = sorted(keys_of_ingress(ingress=ing, ctx=ctx))
    if host:
        wanted = shard_key(cluster=ctx.cluster, host=host, shards=ctx.shards)
        assert wanted in keys
        return wanted
    assert len(keys) == 1, keys
    return keys[0]


def translate(ingresses: list[dict[str, Any]], *, services: dict[tuple[str, str], dict[str, Any]] | None = None,
              endpoints: dict[tuple[str, str], list[dict[str, Any]]] | None = None,
              secrets: list[Observed] | None = None, ctx: L7Context = AKO, key: str = "", host: str = "",
              keep_shell: bool = False, nodes: list[dict[str, Any]] | None = None,
              leave_out: frozenset[tuple[str, str, str]] = frozenset()) -> L7Result:
    """Translate the key of `host` (default: the only key of the first Ingress)."""
    key = key or key_of(ingresses[0], ctx, host)
    return translate_l7(key=key, ingresses=ingresses, services=services or {}, endpoints=endpoints or {},
                        nodes=SEED_NODES if nodes is None else nodes,
                        secrets={(s.namespace, s.name): s for s in secrets or []}, ctx=ctx, keep_shell=keep_shell,
                        leave_out=leave_out)


def objects(result: L7Result, obj_type: str) -> list[AviObject]:
    return [o for o in result.objects if o.obj_type == obj_type]


def names(result: L7Result, obj_type: str) -> list[str]:
    return [o.name for o in objects(result, obj_type)]


def body(result: L7Result, obj_type: str, name: str) -> dict[str, Any]:
    (found,) = [o.body for o in objects(result, obj_type) if o.name == name]
    return found


def rules(result: L7Result, name: str) -> list[dict[str, Any]]:
    return list(body(result, "httppolicyset", name)["http_request_policy"]["rules"])


def problems(result: L7Result) -> list[tuple[str, str, str]]:
    return [(p.obj.name, p.field, p.reason) for p in result.problems]


def servers(pool: dict[str, Any]) -> list[tuple[str, int]]:
    return [(s["ip"]["addr"], s["port"]) for s in pool["servers"]]


def no_key_material(result: L7Result, *keys: str) -> None:
    """Neither a body, a stored body nor a problem message carries private key material."""
    stored = json.dumps([[o.body, o.stored_body()] for o in result.objects])
    messages = " ".join(p.message for p in result.problems)
    for text in (stored, messages):
        assert "PRIVATE KEY" not in text
        for key in keys:
            assert key.strip().splitlines()[1] not in text


# -- the seed ---------------------------------------------------------------------------------------------

HACKAZON = "hackazon.avi.iberia.local"
KUARD = "kuard.avi.iberia.local"


def seed_ingresses() -> list[dict[str, Any]]:
    return [ingress("hackazon", rule(HACKAZON, path("/", "hackazon", 80))),
            ingress("kuard", rule(KUARD, path("/", "kuard", 8080)), tls_=[tls("kuard-tls", KUARD)])]


def seed_services() -> dict[tuple[str, str], dict[str, Any]]:
    return svc_map(backend("hackazon", 80), backend("kuard", 8080))


def seed_endpoints() -> dict[tuple[str, str], list[dict[str, Any]]]:
    return {**pods("hackazon", 80, "10.34.1.5"), **pods("kuard", 8080, "10.34.2.7", "10.34.1.6")}


def seed_translate(host: str) -> L7Result:
    ings = seed_ingresses()
    mine = [i for i in ings if i["rules"][0]["host"] == host]
    return translate(mine, services=seed_services(), endpoints=seed_endpoints(),
                     secrets=[tls_secret("kuard-tls", valid_pair(KUARD))], ctx=SEED)


def test_seed_hackazon_is_routed_on_its_shard_by_a_host_and_path_rule() -> None:
    result = seed_translate(HACKAZON)
    shard = result.vs_name
    assert shard.startswith("S1-AZ1--Shared-L7-")
    assert [(o.obj_type, o.name) for o in result.objects] == [
        ("vsvip", shard),
        ("pool", f"S1-AZ1--{HACKAZON}_-default-hackazon"),
        ("httppolicyset", shard),
        ("virtualservice", shard),
    ]
    (only,) = rules(result, shard)
    assert only["match"]["host_hdr"] == {"match_criteria": "HDR_EQUALS", "value": [HACKAZON]}
    assert only["match"]["path"]["match_str"] == ["/"]
    assert only["switching_action"]["pool_ref"] == f"/api/pool/?name=S1-AZ1--{HACKAZON}_-default-hackazon"
    assert result.served == {("default", "hackazon"): ((HACKAZON, shard),)}
    assert result.problems == ()


def test_seed_kuard_is_served_by_an_sni_child_with_its_certificate_and_redirected_from_http() -> None:
    result = seed_translate(KUARD)
    shard = result.vs_name
    child = f"S1-AZ1--{KUARD}"
    assert names(result, "sslkeyandcertificate") == [child]
    assert body(result, "virtualservice", child)["vh_parent_vs_ref"] == f"/api/virtualservice/?name={shard}"
    (redirect,) = rules(result, shard)
    assert redirect["redirect_action"]["protocol"] == "HTTPS"
    assert redirect["match"]["vs_port"] == {"match_criteria": "IS_IN", "ports": [80]}
    pool = body(result, "pool", f"S1-AZ1--default-{KUARD}_-kuard")
    assert sorted(servers(pool)) == [("10.34.1.6", 8080), ("10.34.2.7", 8080)]
    assert result.served == {("default", "kuard"): ((KUARD, child),)}
    assert body(result, "vsvip", shard)["dns_info"] == [{"fqdn": KUARD}]
    no_key_material(result, valid_pair(KUARD)[1])


def test_objects_come_in_rank_order_child_after_parent() -> None:
    result = seed_translate(KUARD)
    ranks = [o.rank for o in result.objects]
    assert ranks == sorted(ranks)
    vses = objects(result, "virtualservice")
    assert [v.body["type"] for v in vses] == ["VS_TYPE_VH_PARENT", "VS_TYPE_VH_CHILD"]
    assert vses[1].rank > vses[0].rank
