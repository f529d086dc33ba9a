"""Host names of L4 virtual services: automatic FQDNs, the external-dns annotation, RFC 1035 fixes."""

from __future__ import annotations

from akod.model.l4fqdn import auto_fqdn, correct_label, shorten_for_flat
from tests.unit.test_l4_seed import CTX, ctx, one, service, translate

EXTERNAL_DNS = "external-dns.alpha.kubernetes.io/hostname"


def test_default_format_is_service_dot_namespace_dot_domain() -> None:
    result = translate([service("hackazon")])
    assert result.hostnames == {"hackazon": "hackazon.default.avi.iberia.local"}


def test_flat_format_joins_service_and_namespace_in_one_label() -> None:
    result = translate([service("hackazon")], context=ctx(auto_fqdn="flat"))
    assert result.hostnames == {"hackazon": "hackazon-default.avi.iberia.local"}


def test_disabled_format_publishes_no_name_not_even_the_annotation() -> None:
    for svc in (service("hackazon"), service("hackazon", annotations={EXTERNAL_DNS: "shop.example.com"})):
        result = translate([svc], context=ctx(auto_fqdn="disabled"))
        assert result.hostnames == {"hackazon": ""}
        assert "dns_info" not in one(result, "vsvip")


def test_no_default_domain_means_no_automatic_name_but_the_annotation_still_counts() -> None:
    assert translate([service("hackazon")], context=ctx(default_domain="")).hostnames == {"hackazon": ""}
    svc = service("hackazon", annotations={EXTERNAL_DNS: "shop.example.com"})
    assert translate([svc], context=ctx(default_domain="")).hostnames == {"hackazon": "shop.example.com"}


def test_external_dns_annotation_replaces_the_automatic_name_and_may_list_several() -> None:
    svc = service("hackazon", annotations={EXTERNAL_DNS: "Shop.example.com, www.example.com."})
    result = translate([svc])
    assert result.hostnames == {"hackazon": "shop.example.com"}
    assert one(result, "vsvip")["dns_info"] == [{"fqdn": "shop.example.com"}, {"fqdn": "www.example.com"}]


def test_invalid_external_dns_name_is_a_problem_and_the_service_is_still_served() -> None:
    svc = service("hackazon", annotations={EXTERNAL_DNS: "not a host!"})
    result = translate([svc])
    assert [(p.field, p.reason) for p in result.problems] == [
        ("metadata.annotations[external-dns.alpha.kubernetes.io/hostname]", "InvalidHostname")]
    assert result.hostnames == {"hackazon": ""}
    assert len(result.objects) == 4


def test_namespace_starting_with_a_digit_gets_the_n_prefix() -> None:
    assert auto_fqdn(name="game", namespace="2048-game", ctx=CTX) == "game.n2048-game.avi.iberia.local"


def test_label_that_a_prefix_cannot_fix_is_left_as_is() -> None:
    assert correct_label("bad_label", prefix="s") == "bad_label"
    assert correct_label("web", prefix="s") == "web"


def test_leading_dot_of_the_domain_is_dropped() -> None:
    assert auto_fqdn(name="web", namespace="red", ctx=ctx(default_domain=".avi.local")) == "web.red.avi.local"


def test_flat_name_is_shortened_to_one_63_character_label() -> None:
    name, namespace = shorten_for_flat("s" * 40, "n" * 40)
    assert len(f"{name}-{namespace}") == 63 and namespace == "n" * 40
    name, namespace = shorten_for_flat("s" * 63, "n" * 63)
    assert namespace == "n" * 48 and len(f"{name}-{namespace}") == 63
