"""The object types AKO's CRDs refer to (WAF, SSL, PKI, persistence, analytics, error page, ICAP,
network security and security policies) are validated against their Swagger specs like the core
types, their system defaults are seeded spec-valid, and a ref to a missing one is refused as the
controller refuses it (404 naming the model), over real HTTP against a strict emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from akod.emulator.fixtures import read_fixtures
from akod.emulator.schema import SCHEMALESS, load_schema
from akod.emulator.server import EmulatorServer
from tests.emulator.conftest import AviClient

WAF_PROFILE = "/api/wafprofile/?name=System-WAF-Profile"

#: What AKO's docs and charts name, as a fresh controller has it (type, name).
SYSTEM_OBJECTS = [
    ("wafpolicy", "System-WAF-Policy"),
    ("wafprofile", "System-WAF-Profile"),
    ("sslprofile", "System-Standard"),
    ("sslprofile", "System-Standard-PFS"),
    ("applicationpersistenceprofile", "System-Persistence-Client-IP"),
    ("applicationpersistenceprofile", "System-Persistence-Http-Cookie"),
    ("applicationpersistenceprofile", "System-Persistence-TLS"),
    ("pkiprofile", "System-PKI-Profile"),
    ("analyticsprofile", "System-Analytics-Profile"),
    ("errorpageprofile", "Custom-Error-Page-Profile"),
]


@pytest.fixture
async def strict(strict_emulator: EmulatorServer) -> AsyncIterator[AviClient]:
    client = AviClient(strict_emulator.url)
    assert (await client.login()).status == 200
    yield client
    await client.close()


def test_only_the_domain_list_view_is_kept_without_a_spec() -> None:
    schema = load_schema()

    assert set(SCHEMALESS) == {"ipamdnsproviderprofiledomainlist"}
    for obj_type in (t for t, _ in SYSTEM_OBJECTS):
        assert schema.definition_of(obj_type) is not None, obj_type


def test_every_seeded_object_of_these_types_is_spec_valid_in_strict_mode() -> None:
    """The fixture loader validates strictly: the seed loads, so each body passes its spec."""
    seed = read_fixtures("seed")["objects"]
    emulator = EmulatorServer(strict=True)

    for obj_type, name in SYSTEM_OBJECTS:
        assert any(o.get("name") == name for o in seed[obj_type]), (obj_type, name)
        assert emulator.state.find(obj_type, name) is not None, (obj_type, name)


async def test_a_good_wafpolicy_is_accepted_with_the_specs_defaults(strict: AviClient) -> None:
    answer = await strict.post(
        "/api/wafpolicy",
        {"name": "avi-waf-policy", "mode": "WAF_MODE_ENFORCEMENT", "waf_profile_ref": WAF_PROFILE},
    )

    assert answer.status == 201, answer.text
    profile = await strict.by_name("wafprofile", "System-WAF-Profile")
    assert answer.body["waf_profile_ref"].startswith(profile["url"].split("#")[0])
    assert answer.body["mode"] == "WAF_MODE_ENFORCEMENT"
    assert answer.body["paranoia_level"] == "WAF_PARANOIA_LEVEL_LOW"  # the spec's default
    assert answer.body["failure_mode"] == "WAF_FAILURE_MODE_OPEN"
    assert answer.body["tenant_ref"].endswith("/api/tenant/admin#admin")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"name": "w", "waf_profile_ref": WAF_PROFILE, "paranoya_level": "WAF_PARANOIA_LEVEL_HIGH"},
            400,
            "Unknown field 'paranoya_level' in WafPolicy",
        ),
        (
            {"name": "w", "waf_profile_ref": WAF_PROFILE, "mode": "WAF_MODE_SOMETIMES"},
            400,
            "Invalid value 'WAF_MODE_SOMETIMES' for field 'mode' in WafPolicy",
        ),
        (
            {"name": "w", "waf_profile_ref": WAF_PROFILE, "pre_crs_groups": [{"enable": True}]},
            400,
            "Missing required field 'pre_crs_groups[0].index' in WafPolicy",
        ),
        ({"name": "w"}, 400, "Missing required field 'waf_profile_ref' in WafPolicy"),
        (
            {"name": "w", "waf_profile_ref": "/api/wafprofile/?name=No-Such-Profile"},
            404,
            "WafProfile object not found!",
        ),
    ],
    ids=["unknown-field", "bad-enum", "nested-required", "missing-required", "missing-ref-target"],
)
async def test_a_bad_wafpolicy_is_refused_naming_the_field(
    strict: AviClient, body: dict[str, Any], status: int, message: str
) -> None:
    answer = await strict.post("/api/wafpolicy", body)

    assert answer.status == status, answer.text
    assert answer.body["error"].startswith(message), answer.body
    assert (await strict.get("/api/wafpolicy?name=w")).body["count"] == 0


async def test_put_and_patch_of_a_wafpolicy_are_validated(strict: AviClient) -> None:
    created = await strict.post("/api/wafpolicy", {"name": "w", "waf_profile_ref": WAF_PROFILE})
    path = f"/api/wafpolicy/{created.body['uuid']}"

    bad_put = await strict.put(path, {**created.body, "mode": "WAF_MODE_OFF"})
    bad_patch = await strict.patch(path, {"replace": {"enable_app_learnin": True}})
    good_put = await strict.put(path, {**created.body, "mode": "WAF_MODE_ENFORCEMENT"})

    assert bad_put.status == 400 and "'mode' in WafPolicy" in bad_put.body["error"]
    assert bad_patch.status == 400 and "enable_app_learnin" in bad_patch.body["error"]
    assert good_put.status == 200 and good_put.body["mode"] == "WAF_MODE_ENFORCEMENT"


async def test_a_virtualservice_ref_to_a_missing_wafpolicy_is_refused(strict: AviClient) -> None:
    by_name = await strict.post("/api/virtualservice", {"name": "vs", "waf_policy_ref": "/api/wafpolicy/?name=nope"})
    by_uuid = await strict.post(
        "/api/virtualservice", {"name": "vs", "waf_policy_ref": "/api/wafpolicy/wafpolicy-0000"}
    )
    wrong_type = await strict.post(
        "/api/virtualservice", {"name": "vs", "waf_policy_ref": "/api/sslprofile/?name=System-Standard"}
    )
    good = await strict.post(
        "/api/virtualservice", {"name": "vs", "waf_policy_ref": "/api/wafpolicy/?name=System-WAF-Policy"}
    )

    assert (by_name.status, by_name.body) == (404, {"error": "WafPolicy object not found!"})
    assert (by_uuid.status, by_uuid.body) == (404, {"error": "WafPolicy object not found!"})
    assert wrong_type.status == 400 and "refers to a WafPolicy, not a SSLProfile" in wrong_type.body["error"]
    assert good.status == 201, good.text
    assert good.body["waf_policy_ref"].endswith("#System-WAF-Policy")


@pytest.mark.parametrize(
    ("obj_type", "field", "model"),
    [
        ("virtualservice", "ssl_profile_ref", "SSLProfile"),
        ("virtualservice", "analytics_profile_ref", "AnalyticsProfile"),
        ("virtualservice", "error_page_profile_ref", "ErrorPageProfile"),
        ("virtualservice", "network_security_policy_ref", "NetworkSecurityPolicy"),
        ("virtualservice", "security_policy_ref", "SecurityPolicy"),
        ("virtualservice", "icap_request_profile_refs", "IcapProfile"),
        ("pool", "ssl_profile_ref", "SSLProfile"),
        ("pool", "pki_profile_ref", "PKIProfile"),
        ("pool", "application_persistence_profile_ref", "ApplicationPersistenceProfile"),
    ],
)
async def test_a_ref_to_a_missing_object_of_each_crd_type_is_404(
    strict: AviClient, obj_type: str, field: str, model: str
) -> None:
    target = model.lower()
    ref = f"/api/{target}/?name=missing"
    answer = await strict.post(f"/api/{obj_type}", {"name": "x", field: [ref] if field.endswith("s") else ref})

    assert (answer.status, answer.body) == (404, {"error": f"{model} object not found!"})


async def test_an_icap_profile_needs_its_pool_group_and_is_protected_while_a_vs_uses_it(
    strict: AviClient,
) -> None:
    missing = await strict.post("/api/icapprofile", {"name": "avi-icap", "service_uri": "/scan"})
    group = await strict.post("/api/poolgroup", {"name": "icap-servers"})
    icap = await strict.post(
        "/api/icapprofile",
        {"name": "avi-icap", "service_uri": "/scan", "pool_group_ref": "/api/poolgroup/?name=icap-servers"},
    )
    vs = await strict.post(
        "/api/virtualservice", {"name": "vs", "icap_request_profile_refs": ["/api/icapprofile/?name=avi-icap"]}
    )

    assert missing.status == 400 and "'pool_group_ref' in IcapProfile" in missing.body["error"]
    assert group.status == 201 and icap.status == 201, (group.text, icap.text)
    assert icap.body["vendor"] == "ICAP_VENDOR_OPSWAT" and icap.body["cloud_ref"].endswith("#Default-Cloud")
    assert vs.status == 201 and vs.body["icap_request_profile_refs"][0].endswith("#avi-icap")
    refused = await strict.delete(f"/api/icapprofile/{icap.body['uuid']}")
    assert refused.status == 403 and "VirtualService vs" in refused.body["error"]


async def test_error_page_profiles_network_security_and_pki_profiles_validate_nested_bodies(
    strict: AviClient,
) -> None:
    body_page = await strict.post("/api/errorpagebody", {"name": "sorry", "error_page_body": "<p>sorry</p>"})
    page = await strict.post(
        "/api/errorpageprofile",
        {"name": "avi-errorpage", "error_pages": [{"index": 0, "enable": True,
                                                    "match": {"match_criteria": "IS_IN", "status_codes": [503]},
                                                    "error_page_body_ref": "/api/errorpagebody/?name=sorry"}]},
    )
    bad_page = await strict.post(
        "/api/errorpageprofile", {"name": "bad", "error_pages": [{"index": 0, "match": {"match_criteria": "SOMETIMES"}}]}
    )
    nsp = await strict.post(
        "/api/networksecuritypolicy",
        {"name": "avi-nsp", "rules": [{"name": "deny", "index": 1, "enable": True, "action": "NETWORK_SECURITY_POLICY_ACTION_TYPE_DENY",
                                       "match": {"client_ip": {"match_criteria": "IS_IN",
                                                               "prefixes": [{"ip_addr": {"addr": "10.0.0.0", "type": "V4"}, "mask": 8}]}}}]},
    )
    bad_nsp = await strict.post("/api/networksecuritypolicy", {"name": "bad", "rules": [{"index": 1, "action": "ALLOW"}]})
    pki = await strict.post("/api/pkiprofile", {"name": "dest-ca", "crl_check": False, "ca_certs": [{"certificate": "PEM"}]})
    bad_pki = await strict.post("/api/pkiprofile", {"name": "bad", "crl_check": "maybe"})

    assert body_page.status == 201 and page.status == 201, (body_page.text, page.text)
    assert page.body["error_pages"][0]["error_page_body_ref"].endswith("#sorry")
    assert bad_page.status == 400 and "error_pages[0].match" in bad_page.body["error"]
    assert nsp.status == 201, nsp.text
    assert bad_nsp.status == 400 and "rules[0]" in bad_nsp.body["error"]
    assert pki.status == 201 and pki.body["validate_only_leaf_crl"] is True, pki.text
    assert bad_pki.status == 400 and "'crl_check' in PKIProfile" in bad_pki.body["error"]


@pytest.mark.parametrize(("obj_type", "name"), SYSTEM_OBJECTS)
async def test_each_system_object_reads_back_and_puts_back_unchanged_in_strict_mode(
    strict: AviClient, obj_type: str, name: str
) -> None:
    read = await strict.by_name(obj_type, name)

    answer = await strict.put(f"/api/{obj_type}/{read['uuid']}", read)

    assert answer.status == 200, answer.text
    again = await strict.by_name(obj_type, name)
    assert {k: v for k, v in again.items() if k != "_last_modified"} == {
        k: v for k, v in read.items() if k != "_last_modified"
    }
    assert (await strict.delete(f"/api/{obj_type}/{read['uuid']}")).status == 403  # a system default
