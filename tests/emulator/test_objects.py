"""Creating, reading, replacing and deleting objects (avi-api.md 2.1-2.5, checklist 4-6)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def ref_pattern(host_url: str, obj_type: str, name: str | None = None) -> str:
    host = host_url.split("://", 1)[1]
    suffix = f"#{re.escape(name)}" if name else ""
    return rf"^https://{re.escape(host)}/api/{obj_type}/{obj_type}-{UUID4}{suffix}$"


async def test_create_answers_201_with_location_defaults_and_server_filled_refs(avi: Any) -> None:
    answer = await avi.post(
        "/api/pool", {"name": "web", "servers": [{"ip": {"addr": "10.1.1.1", "type": "V4"}}]}
    )

    assert answer.status == 201
    body = answer.body
    assert re.fullmatch(rf"pool-{UUID4}", body["uuid"])
    assert answer.headers["Location"] == body["url"]
    assert re.match(ref_pattern(avi.base_url, "pool", "web"), body["url"])
    assert body["lb_algorithm"] == "LB_ALGORITHM_LEAST_CONNECTIONS"  # spec default
    assert body["default_server_port"] == 80
    assert body["servers"][0]["enabled"] is True and body["servers"][0]["ratio"] == 1  # nested defaults
    assert body["servers"][0]["hostname"] == "10.1.1.1"
    assert body["tenant_ref"].endswith("/api/tenant/admin#admin")
    assert re.match(ref_pattern(avi.base_url, "cloud", "Default-Cloud"), body["cloud_ref"])
    assert re.match(ref_pattern(avi.base_url, "vrfcontext", "global"), body["vrf_ref"])
    assert re.fullmatch(r"\d{16}", body["_last_modified"])


async def test_get_returns_refs_without_names_unless_include_name(avi: Any) -> None:
    created = await avi.post("/api/pool", {"name": "plain"})
    uuid = created.body["uuid"]

    plain = await avi.get(f"/api/pool/{uuid}")
    named = await avi.get(f"/api/pool/{uuid}?include_name")

    assert "#" not in plain.body["url"] and "#" not in plain.body["cloud_ref"]
    assert named.body["cloud_ref"].endswith("#Default-Cloud") and named.body["url"].endswith("#plain")


async def test_refs_written_by_url_relative_path_or_name_are_stored_as_urls(avi: Any) -> None:
    tcp = await avi.by_name("healthmonitor", "System-TCP")
    http = await avi.by_name("healthmonitor", "System-HTTP")
    ping = await avi.by_name("healthmonitor", "System-Ping")
    written = [
        tcp["url"] + "#System-TCP",  # full URL with a name suffix
        f"/api/healthmonitor/{http['uuid']}",  # relative path
        "/api/healthmonitor/?name=System-Ping",  # lookup by name
        "/api/healthmonitor?name=System-UDP",  # lookup by name without the slash
    ]

    answer = await avi.post("/api/pool", {"name": "refs", "health_monitor_refs": written})

    assert answer.status == 201
    refs = (await avi.get(f"/api/pool/{answer.body['uuid']}")).body["health_monitor_refs"]
    assert refs[:3] == [tcp["url"], http["url"], ping["url"]]
    assert all(re.match(ref_pattern(avi.base_url, "healthmonitor"), r) for r in refs)


async def test_a_ref_to_a_missing_object_is_404_naming_the_model(avi: Any) -> None:
    answer = await avi.post(
        "/api/pool", {"name": "bad", "health_monitor_refs": ["/api/healthmonitor/?name=nope"]}
    )

    assert answer.status == 404
    assert answer.body == {"error": "HealthMonitor object not found!"}


async def test_creating_a_second_object_with_the_same_name_is_409(avi: Any) -> None:
    assert (await avi.post("/api/pool", {"name": "twice"})).status == 201

    answer = await avi.post("/api/pool", {"name": "twice"})

    assert answer.status == 409
    assert "already exist" in answer.body["error"]


async def test_cloud_scoped_names_may_repeat_in_another_cloud(avi: Any) -> None:
    cloud = await avi.post("/api/cloud", {"name": "Other-Cloud", "vtype": "CLOUD_NONE"})

    same_cloud = await avi.post("/api/vrfcontext", {"name": "global"})
    other_cloud = await avi.post("/api/vrfcontext", {"name": "global", "cloud_ref": cloud.body["url"]})

    assert same_cloud.status == 409
    assert other_cloud.status == 201


async def test_a_name_lookup_of_a_per_cloud_name_picks_the_object_in_the_objects_cloud(avi: Any) -> None:
    cloud = await avi.post("/api/cloud", {"name": "Cloud-B", "vtype": "CLOUD_NONE"})
    vrf_b = await avi.post("/api/vrfcontext", {"name": "global", "cloud_ref": cloud.body["url"]})

    pool = await avi.post(
        "/api/pool",
        {"name": "in-b", "cloud_ref": "/api/cloud/?name=Cloud-B", "vrf_ref": "/api/vrfcontext/?name=global"},
    )

    assert pool.body["vrf_ref"].split("#")[0] == vrf_b.body["url"].split("#")[0]


async def test_get_of_a_missing_uuid_is_404(avi: Any) -> None:
    answer = await avi.get("/api/pool/pool-00000000-0000-4000-8000-000000000000")

    assert answer.status == 404
    assert answer.body == {"error": "Pool object not found!"}


async def test_delete_answers_204_and_the_object_is_gone(avi: Any) -> None:
    uuid = (await avi.post("/api/pool", {"name": "gone"})).body["uuid"]

    deleted = await avi.delete(f"/api/pool/{uuid}")

    assert deleted.status == 204 and deleted.text == ""
    assert (await avi.get(f"/api/pool/{uuid}")).status == 404
    assert (await avi.delete(f"/api/pool/{uuid}")).status == 404


async def test_deleting_a_referenced_object_is_403_naming_the_referrers(avi: Any) -> None:
    pool = await avi.post("/api/pool", {"name": "used"})
    await avi.post("/api/poolgroup", {"name": "pg", "members": [{"pool_ref": "/api/pool?name=used"}]})

    answer = await avi.delete(f"/api/pool/{pool.body['uuid']}")

    assert answer.status == 403
    assert answer.body == {
        "error": "Cannot delete, object is referred by: ['PoolGroup pg']",
        "obj_name": "used",
    }


async def test_system_defaults_cannot_be_deleted(avi: Any) -> None:
    monitor = await avi.by_name("healthmonitor", "System-Ping")

    answer = await avi.delete(f"/api/healthmonitor/{monitor['uuid']}")

    assert answer.status == 403
    assert answer.body["error"] == "Cannot delete system default object"


async def test_put_replaces_the_whole_object_and_changes_last_modified(avi: Any) -> None:
    created = (
        await avi.post("/api/pool", {"name": "rep", "default_server_port": 8080, "description": "x"})
    ).body

    replaced = await avi.put(
        f"/api/pool/{created['uuid']}", {"name": "rep", "lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN"}
    )

    assert replaced.status == 200
    assert replaced.body["default_server_port"] == 80  # back to the default
    assert "description" not in replaced.body
    assert replaced.body["lb_algorithm"] == "LB_ALGORITHM_ROUND_ROBIN"
    assert replaced.body["_last_modified"] != created["_last_modified"]
    assert replaced.body["uuid"] == created["uuid"]


async def test_put_with_a_stale_last_modified_is_412(avi: Any) -> None:
    created = (await avi.post("/api/pool", {"name": "race"})).body
    first = await avi.put(f"/api/pool/{created['uuid']}", {**created, "description": "first"})
    assert first.status == 200

    second = await avi.put(f"/api/pool/{created['uuid']}", {**created, "description": "second"})

    assert second.status == 412


async def test_put_of_what_was_read_succeeds(avi: Any) -> None:
    created = await avi.post(
        "/api/pool", {"name": "roundtrip", "health_monitor_refs": ["/api/healthmonitor/?name=System-TCP"]}
    )
    read = (await avi.get(f"/api/pool/{created.body['uuid']}")).body

    answer = await avi.put(f"/api/pool/{read['uuid']}", {**read, "enabled": False})

    assert answer.status == 200 and answer.body["enabled"] is False
    assert answer.body["health_monitor_refs"][0].endswith("#System-TCP")


async def test_slug_header_forces_the_uuid(avi: Any) -> None:
    answer = await avi.post("/api/pool", {"name": "forced"}, headers={"Slug": "pool-force-42"})

    assert answer.status == 201 and answer.body["uuid"] == "pool-force-42"


async def test_virtual_service_gets_the_controllers_default_profiles_and_its_vips_vrf(avi: Any) -> None:
    vip = await avi.post(
        "/api/vsvip",
        {
            "name": "vip1",
            "vip": [
                {
                    "auto_allocate_ip": True,
                    "ipam_network_subnet": {"network_ref": "/api/network/?name=AVI_FRONTEND_3025"},
                }
            ],
        },
    )
    assert vip.status == 201

    vs = await avi.post(
        "/api/virtualservice",
        {"name": "vs1", "vsvip_ref": vip.body["url"], "services": [{"port": 443, "enable_ssl": True}]},
    )

    assert vs.status == 201
    body = vs.body
    assert body["se_group_ref"].endswith("#Default-Group")
    assert body["application_profile_ref"].endswith("#System-HTTP")
    assert body["network_profile_ref"].endswith("#System-TCP-Proxy")
    assert body["ssl_profile_ref"].endswith("#System-Standard-PFS")
    assert body["vrf_context_ref"].endswith("#VRF_AZ1")
    assert body["services"][0]["port_range_end"] == 443
    vsvip = await avi.get(f"/api/vsvip/{vip.body['uuid']}")
    assert vsvip.body["vs_refs"] == [body["url"].split("#")[0]]


def _certificate() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app.example.com")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(42)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=90))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


async def test_certificate_is_described_and_its_key_never_returned(avi: Any) -> None:
    cert_pem, key_pem = _certificate()

    created = await avi.post(
        "/api/sslkeyandcertificate",
        {
            "name": "app-cert",
            "key": key_pem,
            "certificate": {"certificate": cert_pem},
            "type": "SSL_CERTIFICATE_TYPE_VIRTUALSERVICE",
        },
    )

    assert created.status == 201
    assert "key" not in created.body
    assert created.body["certificate"]["subject"]["common_name"] == "app.example.com"
    assert created.body["certificate"]["serial_number"] == "42"
    assert created.body["key_params"]["rsa_params"]["key_size"] == "SSL_KEY_2048_BITS"
    read = await avi.get(f"/api/sslkeyandcertificate/{created.body['uuid']}")
    assert read.body["key"] == "<sensitive>"
    assert "PRIVATE KEY" not in read.text and "PRIVATE KEY" not in created.text


async def test_a_certificate_that_does_not_parse_is_an_import_error(avi: Any) -> None:
    answer = await avi.post(
        "/api/sslkeyandcertificate", {"name": "broken", "certificate": {"certificate": "nope"}}
    )

    assert answer.status == 500
    assert "Import error" in answer.body["error"]


async def test_singletons_are_read_and_replaced_on_the_collection_url(avi: Any) -> None:
    config = await avi.get("/api/systemconfiguration")
    assert config.status == 200 and config.body["uuid"] == "default"

    portal = {**config.body["portal_configuration"], "api_force_timeout": 12}
    answer = await avi.put("/api/systemconfiguration", {**config.body, "portal_configuration": portal})

    assert answer.status == 200
    assert answer.body["portal_configuration"]["api_force_timeout"] == 12


async def test_an_unknown_object_type_is_404(avi: Any) -> None:
    assert (await avi.get("/api/abcd")).status == 404
