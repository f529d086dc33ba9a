"""Sharding and names of the L7 objects: AKO's (reference §3.2, §3.3, §4; acceptance c of issue 4)."""

from __future__ import annotations

import random
import string

import pytest

from akod.model.l7 import L7_KEY_PREFIX, fnv1a_32, shard_key, shard_of
from akod.model.l7names import (
    dedicated_pool_name,
    dedicated_vs_name,
    pool_name,
    shard_vs_name,
    sni_policy_name,
    sni_pool_name,
    sni_vs_name,
)


def independent_fnv1a_32(data: bytes) -> int:
    """FNV-1a 32 from its definition (offset basis 2166136261, prime 2**24 + 2**8 + 0x93)."""
    prime = 2**24 + 2**8 + 0x93
    value = 2166136261
    for octet in data:
        value = (value ^ octet) * prime % 2**32
    return value


@pytest.mark.parametrize(("text", "expected"), [("", 0x811C9DC5), ("a", 0xE40C292C), ("foobar", 0xBF9CF968)])
def test_fnv1a_32_matches_the_published_test_vectors(text: str, expected: int) -> None:
    assert fnv1a_32(text) == expected


@pytest.mark.parametrize(("host", "shard"), [("foo.com", 0), ("noo.com", 0), ("bar.com", 1), ("test.com", 2)])
def test_worked_values_of_the_reference_land_on_their_large_shard(host: str, shard: int) -> None:
    assert shard_of(host, 8) == shard


def test_a_thousand_generated_hosts_shard_like_an_independent_fnv1a() -> None:
    rng = random.Random(4)
    alphabet = string.ascii_lowercase + string.digits + "-"
    hosts = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20))).strip("-") + f".{i}.example.com"
             for i in range(1000)}
    assert len(hosts) == 1000
    for shards in (8, 4, 1):
        for host in hosts:
            assert shard_of(host, shards) == independent_fnv1a_32(host.encode()) % shards, (host, shards)
    used = {shard_of(h, 8) for h in hosts}
    assert used == set(range(8))


def test_shard_keys_name_the_shared_vs_or_the_dedicated_one() -> None:
    assert L7_KEY_PREFIX == "l7:"
    assert shard_key(cluster="cluster", host="foo.com", shards=8) == "l7:cluster--Shared-L7-0"
    assert shard_key(cluster="cluster", host="test.com", shards=8) == "l7:cluster--Shared-L7-2"
    assert shard_key(cluster="cluster", host="test.com", shards=1) == "l7:cluster--Shared-L7-0"
    assert shard_key(cluster="cluster", host="foo.com", shards=0) == "l7:cluster--foo.com-L7-dedicated"
    assert shard_vs_name(cluster="cluster", shard=3) == "cluster--Shared-L7-3"
    assert dedicated_vs_name(cluster="cluster", host="foo.com") == "cluster--foo.com-L7-dedicated"


def test_pool_names_replace_every_slash_of_host_and_path() -> None:
    assert pool_name(cluster="cluster", host="foo.com", path="/foo", namespace="default",
                     ingress="ingress-multipath") == "cluster--foo.com_foo-default-ingress-multipath"
    assert pool_name(cluster="cluster", host="noo.com", path="/foo/bar", namespace="default",
                     ingress="ing") == "cluster--noo.com_foo_bar-default-ing"
    assert sni_pool_name(cluster="cluster", host="foo.com", path="/foo/bar", namespace="default",
                         ingress="ing") == "cluster--default-foo.com_foo_bar-ing"
    assert dedicated_pool_name(cluster="cluster", host="foo.com", path="/foo", namespace="default",
                               ingress="ing") == "cluster--default-foo.com_foo-ing-L7-dedicated"


def test_sni_child_certificate_and_policy_set_names() -> None:
    assert sni_vs_name(cluster="cluster", host="foo.com") == "cluster--foo.com"
    assert sni_policy_name(cluster="cluster", namespace="default", host="foo.com") == "cluster--default-foo.com"
