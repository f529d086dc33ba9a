"""X.509 work done with `cryptography`: describing an uploaded certificate, minting the TLS one.

The controller parses a certificate uploaded as an `sslkeyandcertificate` and answers with its
subject, issuer, validity, fingerprint and key parameters (a recorded POST shows the fields);
clients read them back (AKO compares certificates). A certificate that does not parse is the
controller's `Import error`. For `--tls` the emulator also needs a self-signed server certificate
whose file clients can trust as their CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from akod.emulator.errors import ApiError

_NAME_FIELDS = (
    (NameOID.COMMON_NAME, "common_name", "CN"),
    (NameOID.ORGANIZATION_NAME, "organization", "O"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "organization_unit", "OU"),
    (NameOID.LOCALITY_NAME, "locality", "L"),
    (NameOID.STATE_OR_PROVINCE_NAME, "state", "ST"),
    (NameOID.COUNTRY_NAME, "country", "C"),
    (NameOID.EMAIL_ADDRESS, "email_id", "emailAddress"),
)
_EC_CURVES = {
    "secp256r1": "SSL_KEY_EC_CURVE_SECP256R1",
    "secp384r1": "SSL_KEY_EC_CURVE_SECP384R1",
    "secp521r1": "SSL_KEY_EC_CURVE_SECP521R1",
}


def _describe_name(name: x509.Name) -> dict[str, Any]:
    out: dict[str, Any] = {}
    parts = []
    for oid, key, short in reversed(_NAME_FIELDS):
        values = name.get_attributes_for_oid(oid)
        if values:
            raw = values[0].value
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            out[key] = text
            parts.append(f"{short}={text}")
    out["distinguished_name"] = ", ".join(parts)
    return out


def _key_params(public_key: Any) -> dict[str, Any] | None:
    if isinstance(public_key, rsa.RSAPublicKey):
        return {
            "algorithm": "SSL_KEY_ALGORITHM_RSA",
            "rsa_params": {
                "key_size": f"SSL_KEY_{public_key.key_size}_BITS",
                "exponent": public_key.public_numbers().e,
            },
        }
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = _EC_CURVES.get(public_key.curve.name, "SSL_KEY_EC_CURVE_SECP256R1")
        return {"algorithm": "SSL_KEY_ALGORITHM_EC", "ec_params": {"curve": curve}}
    return None


def describe_certificate(pem: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The fields the controller derives from an uploaded PEM certificate.

    Raises the controller's 500 `Import error` when the PEM does not parse.
    """
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise ApiError(500, f"Import error: certificate could not be parsed ({exc})") from exc
    now = now or dt.datetime.now(dt.timezone.utc)
    not_after = cert.not_valid_after_utc
    days = (not_after - now).days
    fingerprint = cert.fingerprint(hashes.SHA1()).hex().upper()
    described: dict[str, Any] = {
        "version": str(cert.version.value),
        "serial_number": str(cert.serial_number),
        "self_signed": cert.issuer == cert.subject,
        "issuer": _describe_name(cert.issuer),
        "subject": _describe_name(cert.subject),
        "signature_algorithm": getattr(cert.signature_algorithm_oid, "_name", "unknown"),
        "not_before": cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M:%S"),
        "not_after": not_after.strftime("%Y-%m-%d %H:%M:%S"),
        "fingerprint": "SHA1 Fingerprint="
        + ":".join(fingerprint[i : i + 2] for i in range(0, len(fingerprint), 2))
        + "\n",
        "expiry_status": "SSL_CERTIFICATE_GOOD" if days > 30 else (
            "SSL_CERTIFICATE_EXPIRY_WARNING" if days >= 0 else "SSL_CERTIFICATE_EXPIRED"
        ),
        "days_until_expire": max(days, 0),
    }
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        described["subject_alt_names"] = [str(n.value) for n in names]
    except x509.ExtensionNotFound:
        pass
    described["public_key"] = cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    described["text"] = _text(cert, described)
    key_params = _key_params(cert.public_key())
    if key_params is not None:
        described["_key_params"] = key_params
    return described


def _text(cert: x509.Certificate, described: dict[str, Any]) -> str:
    """A short `openssl x509 -text`-like summary (the controller returns OpenSSL's full dump)."""
    return (
        "Certificate:\n    Data:\n"
        f"        Version: {cert.version.value + 1} ({hex(cert.version.value)})\n"
        f"        Serial Number: {cert.serial_number}\n"
        f"    Signature Algorithm: {described['signature_algorithm']}\n"
        f"        Issuer: {described['issuer']['distinguished_name']}\n"
        "        Validity\n"
        f"            Not Before: {described['not_before']}\n"
        f"            Not After : {described['not_after']}\n"
        f"        Subject: {described['subject']['distinguished_name']}\n"
    )


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    cert_pem: bytes
    key_pem: bytes


def self_signed(*, hosts: list[str], days: int = 30) -> ServerCertificate:
    """A throwaway EC certificate for `--tls`, valid for `hosts` (names or IP addresses)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "akod emulator")])
    alt: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt.append(x509.DNSName(host))
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return ServerCertificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
