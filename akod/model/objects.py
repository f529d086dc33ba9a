"""Desired Avi objects as the model produces them, and the order they must be written in.

A translation returns `AviObject`s; the sync layer diffs them against what was applied and writes
them in `RANK` order (children before the parents that refer to them), deleting in the reverse
order. Each object's checksum is computed over its body and stored on the controller in the
type's checksum field, so that the applied state can be rebuilt from the controller alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from akod.model.checksums import checksum

# Write order: a referrer comes after what it refers to.
RANK = {
    "sslkeyandcertificate": 0,
    "vsvip": 1,
    "pool": 2,
    "poolgroup": 3,
    "httppolicyset": 4,
    "l4policyset": 5,
    "virtualservice": 9,
}
# The field that carries akod's checksum on the controller. An L4 policy set has no checksum field
# (AKO recomputes one from its rules), so akod keeps it in `description` as "akod-cksum:<hex>".
CHECKSUM_FIELD = {"vsvip": "vsvip_cloud_config_cksum", "l4policyset": "description"}
CHECKSUM_PREFIX = {"l4policyset": "akod-cksum:"}
# Fields that a controller older than the given API version does not know: left out of writes.
NEWER_FIELDS = {"markers": (20, 1, 5)}


def checksum_field(obj_type: str) -> str:
    return CHECKSUM_FIELD.get(obj_type, "cloud_config_cksum")


def stored_checksum(obj_type: str, body: dict[str, Any]) -> str:
    """The checksum akod stored on a controller object ("" when there is none)."""
    value = str(body.get(checksum_field(obj_type)) or "")
    prefix = CHECKSUM_PREFIX.get(obj_type, "")
    if prefix:
        return value[len(prefix):] if value.startswith(prefix) else ""
    return value


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
    _checksum: str = field(default="", init=False, repr=False, hash=False, compare=False)

    @property
    def rank(self) -> int:
        return RANK.get(self.obj_type, 8)

    @property
    def checksum(self) -> str:
        if not self._checksum:
            value = checksum({k: v for k, v in self.body.items() if k != checksum_field(self.obj_type)})
            object.__setattr__(self, "_checksum", value)  # a cache of a pure function of the body
        return self._checksum

    def payload(self) -> dict[str, Any]:
        """The body to send: with the checksum in the type's checksum field."""
        value = CHECKSUM_PREFIX.get(self.obj_type, "") + self.checksum
        return {**self.body, checksum_field(self.obj_type): value}


def name_ref(obj_type: str, name: str) -> str:
    """A by-name reference, resolved by the controller in the request's tenant (AKO's form)."""
    return f"/api/{obj_type}/?name={name}"
