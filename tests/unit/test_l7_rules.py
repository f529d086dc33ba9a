"""The shard policy set's rules: grouped by host, named by group checksum, without index.

These shapes are what lets the sync layer patch one host's rules on a shard of hundreds
(`akod.sync.rulesets`): a change to one host must leave every other host's rule names alone.
"""

from __future__ import annotations

from akod.model.l7 import group_checksum, rule_groups, shard_of
from akod.sync import rulesets
from tests.unit.test_l7_seed import (
    backend,
    body,
    ingress,
    objects,
    path,
    rule,
    rules,
    svc_map,
    tls,
    tls_secret,
    translate,
)

SHARD0 = "cluster--Shared-L7-0"
HOSTS = ["foo.com", "noo.com"] + [f"h{i}.example.com" for i in range(40)]
WEB = svc_map(backend("web", 80))


def shard0_hosts() -> list[str]:
    return [h for h in HOSTS if shard_of(h, 8) == 0]


def many(*, extra_path_for: str = "") -> list[dict[str, object]]:
    ings = []
    for i, host in enumerate(shard0_hosts()):
        paths = [path("/", "web", 80)] + ([path("/extra", "web", 80)] if host == extra_path_for else [])
        ings.append(ingress(f"ing{i}", rule(host, *paths)))
    return ings


def test_shard_rules_have_no_index_and_are_named_host_group_checksum_position() -> None:
    result = translate(many(), services=WEB, key="l7:" + SHARD0)
    shard_rules = rules(result, SHARD0)
    assert shard_rules and all("index" not in r for r in shard_rules)
    for host, group in rule_groups(body(result, "httppolicyset", SHARD0)).items():
        cksum = group_checksum(group)
        assert len(cksum) == 8
        assert [r["name"] for r in group] == [f"{host}|{cksum}|{i}" for i in range(len(group))]
    assert sorted(rule_groups(body(result, "httppolicyset", SHARD0))) == sorted(shard0_hosts())
    (shard_set,) = [o for o in objects(result, "httppolicyset") if o.name == SHARD0]
    assert rulesets.incremental(shard_set)


def test_adding_a_path_renames_only_that_hosts_rules() -> None:
    before = rule_groups(body(translate(many(), services=WEB, key="l7:" + SHARD0), "httppolicyset", SHARD0))
    after = rule_groups(body(translate(many(extra_path_for="noo.com"), services=WEB, key="l7:" + SHARD0),
                             "httppolicyset", SHARD0))
    changed = [h for h in after if after[h] != before.get(h)]
    assert changed == ["noo.com"]
    assert len(after["noo.com"]) == 2
    assert {r["name"].split("|")[1] for r in after["noo.com"]} != {r["name"].split("|")[1] for r in before["noo.com"]}


def test_group_checksum_ignores_names_and_indexes() -> None:
    group = rules(translate(many(), services=WEB, key="l7:" + SHARD0), SHARD0)[:1]
    renamed = [{**r, "name": "x", "index": 7} for r in group]
    assert group_checksum(group) == group_checksum(renamed)


def test_a_tls_hosts_group_on_the_shard_is_its_redirect_and_the_sni_set_is_indexed() -> None:
    ing = ingress("ing", rule("foo.com", path("/a", "web", 80), path("/abc", "web", 80)),
                  tls_=[tls("s", "foo.com")])
    result = translate([ing], services=WEB, secrets=[tls_secret("s")])
    groups = rule_groups(body(result, "httppolicyset", SHARD0))
    assert list(groups) == ["foo.com"]
    assert [("redirect_action" in r) for r in groups["foo.com"]] == [True]
    sni = rules(result, "cluster--default-foo.com")
    assert [(r["name"], r["index"], r["match"]["path"]["match_str"]) for r in sni] == [
        ("cluster--default-foo.com-0", 0, ["/abc"]), ("cluster--default-foo.com-1", 1, ["/a"])]
    (sni_set,) = [o for o in objects(result, "httppolicyset") if o.name == "cluster--default-foo.com"]
    assert not rulesets.incremental(sni_set)


def test_translation_is_deterministic_whatever_the_order_of_ingresses() -> None:
    forward = translate(many(), services=WEB, key="l7:" + SHARD0)
    backward = translate(list(reversed(many())), services=WEB, key="l7:" + SHARD0)
    assert [o.payload() for o in forward.objects] == [o.payload() for o in backward.objects]
