"""AviInfraSetting at the model level: the spec read, AKO's checks, and the context it gives."""

from __future__ import annotations

import ipaddress
from typing import Any

from akod.model.infrasetting import parse_infrasetting
from akod.model.infrasetting_apply import InfraSettings, ingress_infra, l4_context, l7_context
from akod.model.l4translate import translate_l4
from tests.unit.test_l4_seed import CTX, SEED_NODES, hackazon
from tests.unit.test_l7_seed import AKO, backend, body, ingress, key_of, names, path, pods, rule, svc_map, translate


def infra(spec: dict[str, Any], *, name: str = "az2", avi: dict[str, Any] | None = None) -> dict[str, Any]:
    made: dict[str, Any] = {"name": name, "namespace": "", "uid": "u1", "created": "2026-01-01T00:00:00Z",
                            "spec": spec}
    if avi is not None:
        made["avi"] = avi
    return made


AZ2 = {"seGroup": {"name": "S1-AZ2-SE-Group"}, "network": {"vipNetworks": [{"networkName": "AVI_FRONTEND_3026"}]}}
FACTS = {"vrf": "VRF_AZ2", "subnets": {"AVI_FRONTEND_3026": "10.10.26.0/24"}}


def test_a_spec_becomes_its_effect_with_the_controller_facts_and_names_the_refs_to_check() -> None:
    effect, verdict = parse_infrasetting(infra({**AZ2, "l7Settings": {"shardSize": "SMALL"}}, avi=FACTS))
    assert verdict.valid and not verdict.unsupported
    assert [(r.field, r.obj_type, r.name) for r in verdict.refs] == [
        ("spec.seGroup.name", "serviceenginegroup", "S1-AZ2-SE-Group"),
        ("spec.network.vipNetworks[0].networkName", "network", "AVI_FRONTEND_3026")]
    assert effect is not None and effect.se_group == "S1-AZ2-SE-Group" and effect.shards == 1
    assert effect.vrf == "VRF_AZ2" and effect.vip_networks[0].cidr == "10.10.26.0/24"


def test_aKOs_checks_reject_naming_each_field() -> None:
    _, verdict = parse_infrasetting(infra({
        "network": {"bgpPeerLabels": ["peer1"], "vipNetworks": [{"networkName": "n", "cidr": "10.0.0/33"}],
                    "listeners": [{"port": 8080}]},
        "l7Settings": {"shardSize": "HUGE"}}))
    fields = [p.field for p in verdict.problems]
    assert fields == ["spec.network.vipNetworks[0].cidr", "spec.network.bgpPeerLabels", "spec.network.listeners",
                      "spec.l7Settings.shardSize"]
    assert not verdict.valid


def test_fields_akod_does_not_apply_are_named() -> None:
    _, verdict = parse_infrasetting(infra({**AZ2, "network": {**AZ2["network"], "enablePublicIP": True},
                                           "nsxSettings": {"t1lr": "/infra/tier-1s/t1"}}))
    assert verdict.valid and verdict.unsupported == ("spec.network.enablePublicIP", "spec.nsxSettings.t1lr")


def test_an_accepted_setting_places_the_l4_context_in_its_se_group_network_and_vrf() -> None:
    effect, _ = parse_infrasetting(infra({**AZ2, "network": {**AZ2["network"], "enableRhi": True,
                                                             "bgpPeerLabels": ["peer1"]}}, avi=FACTS))
    ctx = l4_context(CTX, effect)
    assert (ctx.se_group, ctx.vip_network, ctx.vrf) == ("S1-AZ2-SE-Group", "AVI_FRONTEND_3026", "VRF_AZ2")
    assert ctx.vip_cidr == ipaddress.ip_network("10.10.26.0/24")
    result = translate_l4(key="l4:S1-AZ1--default-hackazon", services=[hackazon()], endpoints={}, nodes=SEED_NODES,
                          ctx=ctx)
    vsvip = next(o.body for o in result.objects if o.obj_type == "vsvip")
    vs = next(o.body for o in result.objects if o.obj_type == "virtualservice")
    assert vsvip["vip"][0]["ipam_network_subnet"]["network_ref"] == "/api/network/?name=AVI_FRONTEND_3026"
    assert vsvip["vrf_context_ref"] == "/api/vrfcontext/?name=VRF_AZ2" and vsvip["bgp_peer_labels"] == ["peer1"]
    assert vs["se_group_ref"] == "/api/serviceenginegroup/?name=S1-AZ2-SE-Group" and vs["enable_rhi"] is True


def test_an_infra_class_gets_its_own_shards_and_names_as_aKO_does() -> None:
    effect, _ = parse_infrasetting(infra({**AZ2, "l7Settings": {"shardSize": "SMALL"},
                                          "network": {**AZ2["network"],
                                                      "listeners": [{"port": 8443, "enableSSL": True}]}}, avi=FACTS))
    ctx = l7_context(AKO, effect)
    ing = ingress("foo-ingress", rule("foo.com", path("/foo", "avisvc", 8080)))
    assert key_of(ing, ctx) == "l7:cluster--Shared-L7-az2-0"
    result = translate([ing], services=svc_map(backend("avisvc", 8080)), endpoints=pods("avisvc", 8080, "1.1.1.1"),
                       ctx=ctx)
    assert names(result, "virtualservice") == ["cluster--Shared-L7-az2-0"]
    assert names(result, "pool") == ["cluster--az2-foo.com_foo-default-foo-ingress"]
    vs = body(result, "virtualservice", "cluster--Shared-L7-az2-0")
    assert vs["se_group_ref"] == "/api/serviceenginegroup/?name=S1-AZ2-SE-Group"
    assert [s["port"] for s in vs["services"]] == [80, 443, 8443]
    # The default class is unchanged.
    assert key_of(ing, AKO) == "l7:cluster--Shared-L7-0"


def test_which_infra_acts_absent_means_defaults_present_but_not_accepted_holds_back() -> None:
    classes = {"az2": {"controller": "ako.vmware.com/avi-lb", "is_default": False,
                       "parameters": {"api_group": "ako.vmware.com", "kind": "AviInfraSetting", "name": "az2"}},
               "avi-lb": {"controller": "ako.vmware.com/avi-lb", "is_default": True}}
    assert ingress_infra({"class_name": "az2"}, classes) == ("az2", "az2")
    assert ingress_infra({"class_name": ""}, classes) == ("", "")
    effect, _ = parse_infrasetting(infra(AZ2, avi=FACTS))
    assert effect is not None
    assert InfraSettings().resolve("az2") == (None, "")
    rejected = {"az2": {"status": {"status": "Rejected", "error": "spec.seGroup.name: missing"}}}
    assert InfraSettings(present=rejected).resolve("az2") == (None, "is Rejected: spec.seGroup.name: missing")
    assert InfraSettings({"az2": effect}, rejected).resolve("az2") == (effect, "")  # its last accepted spec
