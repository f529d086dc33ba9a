"""L7: Ingresses become host/path routing on sharded shared virtual services (reference §3.2, §3.3, §4).

The public face of the L7 translation, for the sync layer: `ingress_accepted` says whether an
Ingress is akod's, `keys_of_ingress` under which keys (one per shard its hosts land on) its
objects live, and `translate_l7` turns the Ingresses of one key (with their Services, endpoints,
nodes and TLS Secrets) into the objects to write, the problems to show and the hosts to write
into each Ingress's status. All are pure. The modules behind them split the work by
responsibility: names and sharding (`l7names`), selection (`l7select`), reading an Ingress
(`l7hosts`), certificates (`l7certs`), backends (`l7backends`), rules (`l7rules`), bodies
(`l7bodies`) and the checks and assembly of a key (`l7translate`).
"""

from __future__ import annotations

from akod.model.l7certs import check_tls_secret
from akod.model.l7context import L7Context, L7Result, ServedHost
from akod.model.l7hosts import hostless_problems
from akod.model.l7names import L7_KEY_PREFIX, fnv1a_32, shard_key, shard_of
from akod.model.l7rules import group_checksum, rule_groups
from akod.model.l7select import ingress_accepted, keys_of_ingress
from akod.model.l7translate import translate_l7

__all__ = [
    "L7_KEY_PREFIX",
    "L7Context",
    "L7Result",
    "ServedHost",
    "check_tls_secret",
    "fnv1a_32",
    "group_checksum",
    "hostless_problems",
    "ingress_accepted",
    "keys_of_ingress",
    "rule_groups",
    "shard_key",
    "shard_of",
    "translate_l7",
]
