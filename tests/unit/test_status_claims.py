"""A daemon clears only the Service and Ingress statuses it wrote, never another cluster's daemon's."""

from __future__ import annotations

import json

from akod.store import Applied
from akod.sync.statusclaims import StatusClaims, fqdn_map_uuids


def vs(name: str, uuid: str) -> Applied:
    return Applied(obj_type="virtualservice", tenant="admin", name=name, uuid=uuid, checksum="", last_modified="")


def shown(**fqdn_map: str) -> dict[str, object]:
    """A trimmed Service body showing a VIP and this FQDN map (host -> VS uuid)."""
    return {"lb_ingress": [{"ip": "10.10.25.10"}], "fqdn_map": json.dumps(fqdn_map)}


def test_a_status_naming_a_virtual_service_of_this_cluster_found_at_start_is_ours() -> None:
    claims = StatusClaims()
    claims.learn([vs("S1-AZ1--default-web", "virtualservice-1"),
                  Applied(obj_type="pool", tenant="admin", name="p", uuid="pool-9", checksum="", last_modified="")])
    assert claims.ours(("default", "web"), shown(**{"web.default.avi.iberia.local": "virtualservice-1"}))
    assert not claims.ours(("default", "web"), shown(**{"web.default.avi.iberia.local": "pool-9"}))


def test_another_clusters_status_is_not_ours() -> None:
    claims = StatusClaims()
    claims.learn([vs("S1-AZ1--a-web", "virtualservice-1")])
    assert not claims.ours(("b", "web"), shown(**{"web.b.avi.iberia.local": "virtualservice-2"}))
    assert not claims.ours(("b", "web"), {"lb_ingress": [{"ip": "10.10.26.10"}], "fqdn_map": ""})


def test_a_status_this_daemon_wrote_stays_ours_after_its_virtual_service_is_gone() -> None:
    claims = StatusClaims()
    claims.wrote(["virtualservice-7", ""])
    assert claims.ours(("a", "web"), shown(**{"web.a.avi.iberia.local": "virtualservice-7"}))


def test_a_service_this_daemon_stopped_serving_is_ours_until_cleared_even_without_an_fqdn_map() -> None:
    claims = StatusClaims()
    body = {"lb_ingress": [{"ip": "10.10.25.10"}], "fqdn_map": ""}
    claims.release(("a", "web"))
    assert claims.ours(("a", "web"), body)
    claims.cleared(("a", "web"))
    assert not claims.ours(("a", "web"), body)


def test_a_broken_fqdn_map_names_nothing() -> None:
    assert fqdn_map_uuids({"fqdn_map": "{not json"}) == set()
    assert fqdn_map_uuids({"fqdn_map": '["a"]'}) == set()
    assert fqdn_map_uuids({"fqdn_map": '{"a.com": "vs-1", "b.com": ""}'}) == {"vs-1"}
