"""Desired Avi objects as the model produces them, and the order they must be written in.

A translation returns `AviObject`s; the sync layer diffs them against what was applied and writes
them in `RANK` order (children before the parents that refer to them), deleting in the reverse
order. Each object's checksum is computed over its body and stored on the controller in the
type's checksum field, so that the applied state can be rebuilt from the controller alone.

An `sslkeyandcertificate` has no field to carry a checksum (no description; markers exist only
from API 20.1.5 on, and a certificate's other fields are fixed), so its checksum is computed from
what the controller gives back anyway: its type and the certificate itself (PEM, whitespace
normalised). A rotation changes it; a restart reads the same value back and writes nothing.
A `pkiprofile` (made from an HTTPRule's `destinationCA`) has no such field either: its checksum
is computed from its CA certificates and `crl_check` the same way.

Some fields must reach the controller but never the state database: the private key of a
certificate. They live in `AviObject.secret`, which `payload()` merges into the body sent and
which stays out of `body`, `stored_body()`, equality and the checksum. (The key cannot change
without the certificate changing, so the checksum of the certificate alone still detects a
rotation.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from akod.model.checksums import checksum
from akod.model.problems import ObjectRef


class Role:
    """What an object is for, stated by the translation that made it (never parsed out of a name).

    Stored with the desired and applied rows. Roles order deletes (an SNI child goes before the
    shard VS it hangs on), tell a shard's shared VS from a host's own, and let `/objects` show an
    Ingress the objects made for it.
    """

    L4_VS = "l4-vs"
    SHARD_VS = "shard-vs"  # an L7 shard's shared parent (VS_TYPE_VH_PARENT)
    SNI_CHILD = "sni-child"  # a TLS host's child of its shard (VS_TYPE_VH_CHILD)
    DEDICATED_VS = "dedicated-vs"  # one host's own VS (DEDICATED shard size)
    VS = "vs"  # a VS found on the controller whose role its body does not tell (L4 or dedicated)
    VIP = "vip"
    POOL = "pool"
    POOL_GROUP = "pool-group"
    POLICY_SET = "policy-set"
    CERTIFICATE = "certificate"
    PKI_PROFILE = "pki-profile"  # made from an HTTPRule's destinationCA
    ROUTES = "routes"  # this cluster's static routes in a VRF


DEFAULT_ROLE = {"vsvip": Role.VIP, "pool": Role.POOL, "poolgroup": Role.POOL_GROUP, "httppolicyset": Role.POLICY_SET,
                "l4policyset": Role.POLICY_SET, "sslkeyandcertificate": Role.CERTIFICATE, "vrfcontext": Role.ROUTES,
                "virtualservice": Role.VS, "pkiprofile": Role.PKI_PROFILE}
VS_TYPE_ROLE = {"VS_TYPE_VH_PARENT": Role.SHARD_VS, "VS_TYPE_VH_CHILD": Role.SNI_CHILD}


def role_on_controller(obj_type: str, body: dict[str, Any]) -> str:
    """The role of an object read back from the controller (a rebuild after a lost database)."""
    if obj_type == "virtualservice":
        return VS_TYPE_ROLE.get(str(body.get("type") or ""), Role.VS)
    return DEFAULT_ROLE.get(obj_type, obj_type)


# Write order: a referrer comes after what it refers to.
RANK = {
    "sslkeyandcertificate": 0,
    "pkiprofile": 0,
    "vsvip": 1,
    "pool": 2,
    "poolgroup": 3,
    "httppolicyset": 4,
    "l4policyset": 5,
    "virtualservice": 9,
}
# A child virtual service refers to its parent: written after it (and removed before it).
VH_CHILD_RANK = 10


def rank_of(obj_type: str, role: str) -> int:
    """Write order (ascending) and removal order (descending) of an object of `obj_type` and `role`."""
    if role == Role.SNI_CHILD:
        return VH_CHILD_RANK
    return RANK.get(obj_type, 8)
# The field that carries akod's checksum on the controller. An L4 policy set has no checksum field
# (AKO recomputes one from its rules), so akod keeps it in `description` as "akod-cksum:<hex>".
CHECKSUM_FIELD = {"vsvip": "vsvip_cloud_config_cksum", "l4policyset": "description"}
CHECKSUM_PREFIX = {"l4policyset": "akod-cksum:"}
# Types without a field for the checksum: it is computed from the content the controller returns.
CONTENT_CHECKSUM_TYPES = frozenset({"sslkeyandcertificate", "pkiprofile"})
# Fields that a controller older than the given API version does not know: left out of writes.
NEWER_FIELDS = {"markers": (20, 1, 5)}


def checksum_field(obj_type: str) -> str:
    return CHECKSUM_FIELD.get(obj_type, "cloud_config_cksum")


def stored_checksum(obj_type: str, body: dict[str, Any]) -> str:
    """The checksum akod stored on a controller object ("" when there is none)."""
    if obj_type in CONTENT_CHECKSUM_TYPES:
        identity = _content_identity(obj_type, body)
        return checksum(identity) if identity["certificate"] else ""
    value = str(body.get(checksum_field(obj_type)) or "")
    prefix = CHECKSUM_PREFIX.get(obj_type, "")
    if prefix:
        return value[len(prefix):] if value.startswith(prefix) else ""
    return value


def _normalised_pem(pem: Any) -> str:
    return "\n".join(line.strip() for line in str(pem or "").strip().splitlines() if line.strip())


def _certificate_identity(body: dict[str, Any]) -> dict[str, str]:
    """What makes a certificate object what it is: its type and its PEM (whitespace normalised)."""
    pem = _normalised_pem((body.get("certificate") or {}).get("certificate"))
    return {"type": str(body.get("type") or ""), "certificate": pem}


def _content_identity(obj_type: str, body: dict[str, Any]) -> dict[str, str]:
    """What the checksum of a type without a checksum field is computed from."""
    if obj_type == "pkiprofile":
        pems = [_normalised_pem(c.get("certificate")) for c in body.get("ca_certs") or [] if isinstance(c, dict)]
        return {"crl_check": str(body.get("crl_check", True)), "certificate": "\n".join(p for p in pems if p)}
    return _certificate_identity(body)


def for_api_version(payload: dict[str, Any], version: tuple[int, ...]) -> dict[str, Any]:
    """`payload` without the top-level fields the controller's API version does not have."""
    return {k: v for k, v in payload.items() if k not in NEWER_FIELDS or version >= NEWER_FIELDS[k]}


@dataclass(frozen=True, slots=True)
class AviObject:
    """One desired object. Its body is not changed once built: the checksum is computed once."""

    obj_type: str
    tenant: str
    name: str
    body: dict[str, Any] = field(hash=False, compare=False)
    secret: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)
    role: str = field(default="", hash=False, compare=False)  # `Role`; "" = the type's default
    # The Kubernetes objects this one is made for; empty: every object of its key (a shared VS).
    subjects: tuple[ObjectRef, ...] = field(default=(), hash=False, compare=False)
    _checksum: str = field(default="", init=False, repr=False, hash=False, compare=False)

    def __post_init__(self) -> None:
        if not self.role:
            object.__setattr__(self, "role", role_on_controller(self.obj_type, self.body))

    @property
    def rank(self) -> int:
        return rank_of(self.obj_type, self.role)

    @property
    def checksum(self) -> str:
        if not self._checksum:
            if self.obj_type in CONTENT_CHECKSUM_TYPES:
                value = checksum(_content_identity(self.obj_type, self.body))
            else:
                value = checksum({k: v for k, v in self.body.items() if k != checksum_field(self.obj_type)})
            object.__setattr__(self, "_checksum", value)  # a cache of a pure function of the body
        return self._checksum

    def stored_body(self) -> dict[str, Any]:
        """What may be kept (state database, logs): the payload without `secret`."""
        if self.obj_type in CONTENT_CHECKSUM_TYPES:
            return dict(self.body)
        value = CHECKSUM_PREFIX.get(self.obj_type, "") + self.checksum
        return {**self.body, checksum_field(self.obj_type): value}

    def payload(self) -> dict[str, Any]:
        """The body to send: with the checksum in the type's checksum field and `secret`."""
        return {**self.stored_body(), **self.secret}


def name_ref(obj_type: str, name: str) -> str:
    """A by-name reference, resolved by the controller in the request's tenant (AKO's form).

    The controller reads the name out of a query string, so it is percent-encoded: a pool named
    after a path with `+`, `&`, `#`, `%`, `?` or a space must resolve to itself (unencoded, `+`
    would read as a space, `&` and `#` would end the name, `%2B` would name another object).
    Letters, digits and `-._~` stay as they are, so AKO's names are spelt exactly as before.
    """
    return f"/api/{obj_type}/?name={quote(name, safe='')}"
