"""Certificates: checked before sending, the key sent but never stored, rotation detected by checksum."""

from __future__ import annotations

import datetime as dt
import json

from akod.model.l7 import check_tls_secret
from akod.model.l7bodies import certificate
from akod.model.objects import AviObject, for_api_version, stored_checksum
from akod.model.problems import ObjectRef
from tests.unit.test_l7_seed import (
    AKO,
    NOW,
    backend,
    body,
    expired_pair,
    ingress,
    names,
    no_key_material,
    objects,
    path,
    rule,
    svc_map,
    tls,
    tls_secret,
    translate,
    valid_pair,
)

SECRET = ObjectRef(kind="Secret", namespace="default", name="foo-tls")
INGRESS = ObjectRef(kind="Ingress", namespace="default", name="foo")


def check(material: dict[str, str], now: dt.datetime = NOW) -> tuple[object, object]:
    return check_tls_secret(material=material, secret_ref=SECRET, ingress_ref=INGRESS,
                            field="spec.tls[0].secretName", now=now)


def test_a_valid_pair_is_returned_as_given() -> None:
    cert, key = valid_pair()
    assert check({"tls.crt": cert, "tls.key": key}) == ((cert, key), None)


def test_a_chain_is_accepted_and_the_first_certificate_is_the_servers() -> None:
    cert, key = valid_pair()
    chain = cert + valid_pair("ca.example.com")[0]
    pair, problem = check({"tls.crt": chain, "tls.key": key})
    assert problem is None and pair == (chain, key)


def test_validity_is_judged_at_the_context_time() -> None:
    cert, key = expired_pair()
    assert check({"tls.crt": cert, "tls.key": key}, now=NOW - dt.timedelta(days=10))[1] is None
    pair, problem = check({"tls.crt": cert, "tls.key": key})
    assert pair is None and problem is not None


def test_a_naive_now_is_taken_as_utc() -> None:
    cert, key = valid_pair()
    assert check({"tls.crt": cert, "tls.key": key}, now=NOW.replace(tzinfo=None))[1] is None


def test_messages_never_quote_the_material() -> None:
    cert, key = valid_pair()
    other_key = valid_pair("other.com")[1]
    for material in ({"tls.crt": cert, "tls.key": other_key}, {"tls.crt": key, "tls.key": cert},
                     {"tls.crt": cert, "tls.key": cert}):
        _, problem = check(material)
        assert problem is not None
        text = problem.message  # type: ignore[attr-defined]
        assert "BEGIN" not in text and key.splitlines()[1] not in text and other_key.splitlines()[1] not in text


def cert_object(pair: tuple[str, str]) -> AviObject:
    return certificate(name="cluster--foo.com", ctx=AKO, host="foo.com", cert_pem=pair[0], key_pem=pair[1])


def test_the_key_is_in_the_payload_only() -> None:
    cert, key = valid_pair()
    obj = cert_object((cert, key))
    assert obj.payload()["key"] == key
    assert "key" not in obj.body and "key" not in obj.stored_body()
    assert key not in json.dumps(obj.body) and key not in json.dumps(obj.stored_body())
    assert key not in repr(obj)
    assert obj.payload()["certificate"] == {"certificate": cert}


def test_certificate_checksum_is_read_back_from_the_certificate_itself() -> None:
    obj = cert_object(valid_pair())
    payload = obj.payload()
    assert "cloud_config_cksum" not in payload
    # What a controller (of any API version, markers or not) gives back: the certificate, no key.
    echoed = {k: v for k, v in for_api_version(payload, (20, 1, 2)).items() if k != "key"}
    echoed["certificate"] = {**echoed["certificate"], "subject": {"common_name": "x"},
                             "certificate": echoed["certificate"]["certificate"].replace("\n", "\r\n")}
    assert stored_checksum("sslkeyandcertificate", echoed) == obj.checksum
    assert stored_checksum("sslkeyandcertificate", {"name": obj.name}) == ""
    assert AviObject("sslkeyandcertificate", "admin", obj.name, obj.stored_body()).checksum == obj.checksum


def test_rotation_changes_the_checksum_and_the_key_alone_does_not() -> None:
    first, rotated = valid_pair(serial=1), valid_pair(serial=2)
    assert cert_object(first).checksum != cert_object(rotated).checksum
    assert cert_object(first).checksum == cert_object((first[0], rotated[1])).checksum
    assert cert_object(first) == cert_object((first[0], rotated[1]))  # equality ignores `secret`


def test_a_rotated_secret_changes_the_certificate_object_and_nothing_else() -> None:
    ing = ingress("foo", rule("foo.com", path("/", "web", 80)), tls_=[tls("foo-tls", "foo.com")])
    services = svc_map(backend("web", 80))
    before = translate([ing], services=services, secrets=[tls_secret("foo-tls", valid_pair(serial=1))])
    after = translate([ing], services=services, secrets=[tls_secret("foo-tls", valid_pair(serial=2))])
    old = {(o.obj_type, o.name): o.checksum for o in before.objects}
    new = {(o.obj_type, o.name): o.checksum for o in after.objects}
    assert old.keys() == new.keys()
    assert [k for k in old if old[k] != new[k]] == [("sslkeyandcertificate", "cluster--foo.com")]
    no_key_material(after, valid_pair(serial=2)[1])


def test_secret_deleted_removes_the_sni_child_and_certificate() -> None:
    ing = ingress("foo", rule("foo.com", path("/", "web", 80)), tls_=[tls("foo-tls", "foo.com")])
    services = svc_map(backend("web", 80))
    present = translate([ing], services=services, secrets=[tls_secret("foo-tls")])
    assert names(present, "sslkeyandcertificate") == ["cluster--foo.com"]
    gone = translate([ing], services=services, keep_shell=True)
    assert objects(gone, "sslkeyandcertificate") == []
    assert names(gone, "virtualservice") == ["cluster--Shared-L7-0"]
    assert body(gone, "httppolicyset", "cluster--Shared-L7-0")["http_request_policy"]["rules"] == []
