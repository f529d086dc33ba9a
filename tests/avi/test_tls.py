"""TLS: verified by default, against a given CA file, or knowingly not at all."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from akod.avi import AviClient, AviOutcomeUnknown, AviUnavailable

from .conftest import CallLog
from .fake_controller import FakeController


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "avi-controller")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "controller.crt", directory / "controller.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
async def tls_fake(tmp_path: Path) -> AsyncIterator[tuple[FakeController, Path]]:
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    async with FakeController(ssl_context=context) as controller:
        yield controller, cert_file


async def test_a_controller_signed_by_the_given_ca_is_trusted(
    tls_fake: tuple[FakeController, Path], make_client: Callable[..., AviClient]
) -> None:
    fake, ca_file = tls_fake
    assert fake.url.startswith("https://")
    async with make_client(base_url=fake.url, ca_file=str(ca_file)) as client:
        await client.post("pool", {"name": "p1"})
    assert fake.seen("POST", "/api/pool")[0].headers["X-CSRFToken"]


async def test_an_untrusted_certificate_fails_at_once_without_retries(
    tls_fake: tuple[FakeController, Path],
    make_client: Callable[..., AviClient],
    calls: CallLog,
) -> None:
    fake, _ = tls_fake
    async with make_client(base_url=fake.url) as client:
        with pytest.raises(AviUnavailable) as caught:
            await client.post("pool", {"name": "p1"})
    assert not isinstance(caught.value, AviOutcomeUnknown)
    assert "certificate" in str(caught.value).lower()
    assert calls.calls == [("POST", "login", None)]
    assert fake.requests == []


async def test_insecure_skips_verification_and_says_so_once(
    tls_fake: tuple[FakeController, Path],
    make_client: Callable[..., AviClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, _ = tls_fake
    caplog.set_level(logging.WARNING, logger="akod.avi")
    for _ in range(2):
        async with make_client(base_url=fake.url, insecure=True) as client:
            await client.list("pool")
    warnings = [r for r in caplog.records if "verification is OFF" in r.getMessage()]
    assert len(warnings) == 1
