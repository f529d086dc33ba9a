"""Names of the L7 objects and the shard a host lands on: AKO's, so both can manage the same objects.

A host belongs to shard `fnv1a_32(host) & (shards - 1)` (AKO's `utils.Bkt`, reference §4: 32-bit
FNV-1a and a bit mask, so the shard count is a power of two: LARGE 8, MEDIUM 4, SMALL 1). Its
shard's shared virtual service, VsVip and policy set are `<cluster>--Shared-L7-<n>`; in DEDICATED
mode (0 shards) each host has its own `<cluster>--<host>-L7-dedicated`. The sync key of either is
`l7:` + that name, so everything of the hosts of one shard is written under one key.

Pools and pool groups carry the host and the path with every `/` replaced by `_` (reference §3.2,
§3.3): `<cluster>--<host><path>-<ns>-<ing>` on the shared VS, `<cluster>--<ns>-<host><path>-<ing>`
for an SNI child, and the SNI name plus `-L7-dedicated` on a dedicated VS.

The objects of an AviInfraSetting's class carry its name as AKO's do: shards
`<cluster>--Shared-L7-<infra>-<n>`, and `<cluster>--<infra>-` instead of `<cluster>--` before the
pools, pool groups, SNI children and their policy sets (`infra=`).
"""

from __future__ import annotations

L7_KEY_PREFIX = "l7:"
FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
DEDICATED_SUFFIX = "-L7-dedicated"


def fnv1a_32(text: str) -> int:
    """32-bit FNV-1a of the UTF-8 bytes of `text` (Go's `hash/fnv.New32a`)."""
    value = FNV_OFFSET
    for byte in text.encode():
        value = ((value ^ byte) * FNV_PRIME) & 0xFFFFFFFF
    return value


def shard_of(host: str, shards: int) -> int:
    """The shard of `host` among `shards` shared virtual services (a power of two, at least 1)."""
    return fnv1a_32(host) & (max(shards, 1) - 1)


def shard_vs_name(*, cluster: str, shard: int, infra: str = "") -> str:
    """`<cluster>--Shared-L7-<n>`; of an AviInfraSetting's class `<cluster>--Shared-L7-<infra>-<n>` (AKO's
    `GetShardVSName` with the infra setting as extra prefix)."""
    return f"{cluster}--Shared-L7-{infra}-{shard}" if infra else f"{cluster}--Shared-L7-{shard}"


def is_default_shard(name: str, *, cluster: str) -> bool:
    """A shard of the cluster's default (`<cluster>--Shared-L7-<n>`), not of an AviInfraSetting's class."""
    number = name.removeprefix(f"{cluster}--Shared-L7-")
    return number != name and number.isdigit()


def dedicated_vs_name(*, cluster: str, host: str, infra: str = "") -> str:
    return f"{_prefix(cluster, infra)}{host}{DEDICATED_SUFFIX}"


def host_vs_name(*, cluster: str, host: str, shards: int, infra: str = "") -> str:
    """The virtual service (and VsVip) that serves `host`: its shard's, or its own in DEDICATED mode."""
    if shards <= 0:
        return dedicated_vs_name(cluster=cluster, host=host, infra=infra)
    return shard_vs_name(cluster=cluster, shard=shard_of(host, shards), infra=infra)


def shard_key(*, cluster: str, host: str, shards: int, infra: str = "") -> str:
    return L7_KEY_PREFIX + host_vs_name(cluster=cluster, host=host, shards=shards, infra=infra)


def vs_name_of_key(key: str) -> str:
    return key.removeprefix(L7_KEY_PREFIX)


def _prefix(cluster: str, infra: str) -> str:
    """AKO's name prefix: `<cluster>--`, with an AviInfraSetting `<cluster>--<infra>-` (`internal/lib`)."""
    return f"{cluster}--{infra}-" if infra else f"{cluster}--"


def _host_path(host: str, path: str) -> str:
    return (host + path).replace("/", "_")


def pool_name(*, cluster: str, host: str, path: str, namespace: str, ingress: str, infra: str = "") -> str:
    """The pool of an insecure host+path on a shared VS (scenario 20: `cluster--foo.com_foo-default-<ing>`)."""
    return f"{_prefix(cluster, infra)}{_host_path(host, path)}-{namespace}-{ingress}"


def sni_pool_name(*, cluster: str, host: str, path: str, namespace: str, ingress: str, infra: str = "") -> str:
    """The pool and pool group of a TLS host+path (scenario 19: `cluster--default-foo.com_foo_bar-<ing>`)."""
    return f"{_prefix(cluster, infra)}{namespace}-{_host_path(host, path)}-{ingress}"


def dedicated_pool_name(*, cluster: str, host: str, path: str, namespace: str, ingress: str,
                        infra: str = "") -> str:
    return sni_pool_name(cluster=cluster, host=host, path=path, namespace=namespace, ingress=ingress, infra=infra) \
        + DEDICATED_SUFFIX


def sni_vs_name(*, cluster: str, host: str, infra: str = "") -> str:
    """The SNI child virtual service of a TLS host, and the name of its certificate."""
    return f"{_prefix(cluster, infra)}{host}"


def sni_policy_name(*, cluster: str, namespace: str, host: str, infra: str = "") -> str:
    """The HTTP policy set of one namespace's paths of a TLS host (`cluster--default-foo.com`)."""
    return f"{_prefix(cluster, infra)}{namespace}-{host}"
