"""The object types the emulator knows and the shape of each, loaded from the compact schema.

`fixtures/schema.json` (compiled from the controller's Swagger files by `specgen`) says, for every
definition, which fields exist, their JSON types, enums, defaults, nested definitions and ref
targets. This module turns it into small immutable `Field`/`Definition` objects once per process,
so validating a request is a walk over dicts with no string parsing. It also knows which types are
singletons and which types the emulator stores without a spec (only views with no Swagger file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any, Final

MISSING: Final = object()

#: Served at `/api/<type>` without a uuid: GET/PUT/PATCH on the collection URL.
SINGLETONS: Final = frozenset({"systemconfiguration", "controllerproperties", "cluster"})

#: Types the emulator stores and resolves refs to although it has no Swagger spec for them.
#: Bodies are kept as given. `ipamdnsproviderprofiledomainlist` is not an object type on the
#: controller but a view (the domains of an IPAM/DNS profile, which AKO reads); vmware/alb-sdk
#: has no `swagger/IpamDnsProviderProfileDomainList.json`. Every other type the emulator serves
#: is validated against its spec (`fixtures/schema.json`, compiled by `specgen`).
SCHEMALESS: Final = {
    "ipamdnsproviderprofiledomainlist": "IpamDnsProviderProfileDomainList",
}

#: Types visible from every tenant (tenant objects themselves and the system-wide singletons).
GLOBAL_TYPES: Final = frozenset({"tenant"}) | SINGLETONS

#: Types whose objects in the `admin` tenant other tenants may read and refer to.
SHARED_TYPES: Final = frozenset(
    {
        "cloud", "vrfcontext", "network", "serviceenginegroup", "applicationprofile",
        "networkprofile", "healthmonitor", "sslkeyandcertificate", "ipamdnsproviderprofile",
        "stringgroup",
        # the system profiles and policies AKO's CRDs and virtual services point at
        "analyticsprofile", "sslprofile", "applicationpersistenceprofile", "pkiprofile",
        "wafpolicy", "wafprofile", "errorpageprofile", "errorpagebody", "icapprofile",
        "networksecuritypolicy", "securitypolicy",
    }
) | frozenset(SCHEMALESS)

#: Names are unique per (type, tenant) and, for these, per cloud too (`global` exists per cloud).
CLOUD_SCOPED: Final = frozenset({"vrfcontext", "serviceenginegroup", "network"})

#: Fields that are accepted on write but never returned (stored apart from the body).
WRITE_ONLY: Final = {"sslkeyandcertificate": frozenset({"key"})}


@dataclass(frozen=True, slots=True)
class Field:
    kind: str  # string | integer | number | boolean | object | array
    enum: frozenset[str] | None = None
    default: Any = MISSING
    definition: str | None = None  # nested definition name for kind == "object"
    items: Field | None = None  # element field for kind == "array"
    target: str | None = None  # lowercase type a ref string points to
    readonly: bool = False
    since: tuple[int, ...] | None = None  # API version that introduced the field


@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    required: tuple[str, ...]
    fields: dict[str, Field]

    def newer_than(self, version: tuple[int, ...]) -> frozenset[str]:
        """Fields an answer shaped for API `version` leaves out (introduced later)."""
        return frozenset(k for k, f in self.fields.items() if f.since is not None and f.since > version)


def _field(raw: dict[str, Any]) -> Field:
    kind = raw["type"]
    return Field(
        kind=kind,
        enum=frozenset(raw["enum"]) if "enum" in raw else None,
        default=raw.get("default", MISSING),
        definition=raw.get("ref"),
        items=_field(raw["items"]) if kind == "array" else None,
        target=raw.get("target"),
        readonly=bool(raw.get("readonly")),
        since=tuple(int(p) for p in raw["since"].split(".")) if "since" in raw else None,
    )


class Schema:
    """Definitions by name, object types by lowercase name, model names for messages."""

    def __init__(self, raw: dict[str, Any], *, server_defaults: dict[str, Any] | None = None) -> None:
        overlay = server_defaults or {}
        self.definitions: dict[str, Definition] = {}
        for name, d in raw["definitions"].items():
            fields = {k: _field(v) for k, v in d["properties"].items()}
            for key, value in overlay.get(name, {}).items():
                if key in fields:
                    fields[key] = replace(fields[key], default=value)
            self.definitions[name] = Definition(
                name=name, required=tuple(d["required"]), fields=fields
            )
        self.types: dict[str, str] = dict(raw["types"])
        self._models: dict[str, str] = {**raw["models"], **SCHEMALESS}
        self._hidden: dict[tuple[str, tuple[int, ...]], frozenset[str]] = {}

    def known_types(self) -> frozenset[str]:
        """Every type served under `/api/<type>`."""
        return frozenset(self.types) | frozenset(SCHEMALESS)

    def definition_of(self, obj_type: str) -> Definition | None:
        name = self.types.get(obj_type)
        return self.definitions[name] if name else None

    def hidden_fields(self, obj_type: str, version: tuple[int, ...]) -> frozenset[str]:
        """Top-level fields of `obj_type` that API `version` does not have yet (cached)."""
        key = (obj_type, version)
        hidden = self._hidden.get(key)
        if hidden is None:
            definition = self.definition_of(obj_type)
            hidden = definition.newer_than(version) if definition is not None else frozenset()
            self._hidden[key] = hidden
        return hidden

    def model(self, obj_type: str) -> str:
        """`pool` -> `Pool`: the name the controller uses in messages."""
        return self._models.get(obj_type, obj_type.capitalize())


@cache
def load_schema() -> Schema:
    """The shipped compact schema plus the 20.1 server defaults (parsed once per process)."""
    folder = resources.files("akod.emulator").joinpath("fixtures")
    raw = json.loads(folder.joinpath("schema.json").read_text())
    overlay = json.loads(folder.joinpath("server_defaults.json").read_text())
    return Schema(raw, server_defaults={k: v for k, v in overlay.items() if not k.startswith("_")})
