"""Self-signed certificates for the demo and the tests: a TLS Secret without openssl.

Made with `cryptography` (EC P-256 or RSA 2048, a SAN for the host), and wrapped in the Secret
manifest an Ingress's `tls` section names. Never used by the daemon itself, which only checks
certificates (`akod.model.l7certs`).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def self_signed(host: str, *, valid_from: dt.datetime | None = None, valid_to: dt.datetime | None = None,
                rsa_key: bool = False, serial: int | None = None) -> tuple[str, str]:
    """(certificate PEM, private key PEM) for `host`; valid from 5 minutes ago for 30 days by default."""
    key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048) if rsa_key \
        else ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial if serial is not None else x509.random_serial_number())
            .not_valid_before(valid_from or now - dt.timedelta(minutes=5))
            .not_valid_after(valid_to or now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def tls_secret(name: str, *, cert: str, key: str) -> dict[str, Any]:
    """A `kubernetes.io/tls` Secret manifest named `name` holding the PEM `cert` and `key`."""
    data = {"tls.crt": base64.b64encode(cert.encode()).decode(), "tls.key": base64.b64encode(key.encode()).decode()}
    return {"metadata": {"name": name}, "type": "kubernetes.io/tls", "data": data}
