"""Checking a TLS Secret before its certificate is sent to the controller.

The controller refuses a certificate it cannot import, and a refused write would stop the whole
shard of the host. So a Secret is checked here, with `cryptography`, and a bad one becomes an
object error of the Ingress (`SecretInvalid`, naming the Secret and the Ingress) instead of a
call: `tls.crt` must be PEM certificates (the first is the server's, the rest its chain),
`tls.key` an unencrypted PEM private key whose public key is the certificate's, and the
certificate must be valid at `now` (neither expired nor not yet valid).

Messages say what is wrong and never quote the material. Parsing is memoised by a digest of the
material (a shard is translated again on every change of any of its Ingresses; an RSA key check
costs milliseconds), and the cache keeps only digests and dates, never the material itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from akod.model.problems import ObjectRef, Problem

CERT_KEY = "tls.crt"
PRIVATE_KEY = "tls.key"
_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class _Inspection:
    error: str  # "" when the pair is usable (validity dates still to be compared with now)
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None


_inspected: dict[str, _Inspection] = {}


def _inspect(cert_pem: str, key_pem: str) -> _Inspection:
    try:
        chain = x509.load_pem_x509_certificates(cert_pem.encode())
    except ValueError:
        return _Inspection(error=f"{CERT_KEY} is not a PEM certificate")
    leaf = chain[0]
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except TypeError:
        return _Inspection(error=f"{PRIVATE_KEY} is encrypted; akod needs an unencrypted key")
    except (ValueError, UnsupportedAlgorithm):
        return _Inspection(error=f"{PRIVATE_KEY} is not a PEM private key")
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        matches = key.public_key().public_bytes(der, spki) == leaf.public_key().public_bytes(der, spki)
    except (ValueError, UnsupportedAlgorithm):
        matches = False
    if not matches:
        return _Inspection(error=f"{PRIVATE_KEY} does not match the certificate in {CERT_KEY}")
    return _Inspection(error="", not_before=leaf.not_valid_before_utc, not_after=leaf.not_valid_after_utc)


def _inspect_cached(cert_pem: str, key_pem: str) -> _Inspection:
    digest = hashlib.sha256(f"{len(cert_pem)}:{cert_pem}{key_pem}".encode()).hexdigest()
    found = _inspected.get(digest)
    if found is None:
        found = _inspect(cert_pem, key_pem)
        if len(_inspected) >= _CACHE_SIZE:
            _inspected.clear()
        _inspected[digest] = found
    return found


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def check_tls_secret(*, material: Mapping[str, str] | None, secret_ref: ObjectRef, ingress_ref: ObjectRef,
                     field: str, now: dt.datetime) -> tuple[tuple[str, str] | None, Problem | None]:
    """((certificate PEM, key PEM), None) for a usable Secret, (None, SecretInvalid problem) otherwise."""
    material = material or {}
    cert_pem = str(material.get(CERT_KEY) or "")
    key_pem = str(material.get(PRIVATE_KEY) or "")
    if not cert_pem.strip():
        error = f"{CERT_KEY} is missing or empty"
    elif not key_pem.strip():
        error = f"{PRIVATE_KEY} is missing or empty"
    else:
        inspection = _inspect_cached(cert_pem, key_pem)
        error = inspection.error
        if not error and inspection.not_after is not None and inspection.not_after < _utc(now):
            error = f"the certificate expired on {inspection.not_after:%Y-%m-%d %H:%M:%S} UTC"
        elif not error and inspection.not_before is not None and inspection.not_before > _utc(now):
            error = f"the certificate is not valid before {inspection.not_before:%Y-%m-%d %H:%M:%S} UTC"
    if error:
        message = (f"Secret {secret_ref.namespace}/{secret_ref.name} used by {ingress_ref.kind} {ingress_ref.namespace}/"
                   f"{ingress_ref.name}: {error}; its TLS hosts are not served until the Secret is fixed")
        return None, Problem(obj=ingress_ref, field=field, reason="SecretInvalid", message=message)
    return (cert_pem, key_pem), None
