"""The objects a fresh controller already has, loaded from a JSON fixture file.

A controller is never empty: there is the `admin` tenant, a cloud, its VRFs and networks, SE
groups, and the System-* profiles and health monitors every virtual service points at. Tests,
the demo and the benchmark each need a known set, so it lives in a file:

    {"_comment": "free text",
     "objects": {                         # loaded in this order (targets before referrers)
        "tenant": [{"uuid": "admin", "name": "admin", "_system_default": true}],
        "cloud": [{"name": "Default-Cloud", "vtype": "CLOUD_VCENTER"}],
        "vrfcontext": [{"name": "global", "cloud_ref": "/api/cloud/?name=Default-Cloud",
                        "system_default": true}],
        ...}}

Each entry is an API body as a client would POST it (refs by name, URL or relative path) and
goes through the same validation, strictly (an unknown field in a fixture is a typo). Optional
`uuid` fixes the uuid (else one is derived from type, tenant and name, so it is stable across
resets); `_system_default: true` (or a VRF's `system_default`) makes the object undeletable.
`--fixtures seed` is `fixtures/seed.json` in this package. Singletons absent from the file and the
`admin` tenant are created with their defaults.
"""

from __future__ import annotations

import hashlib
import json
import uuid as uuidlib
from importlib import resources
from pathlib import Path
from typing import Any

from akod.emulator.crud import Writer
from akod.emulator.errors import ApiError
from akod.emulator.refs import ADMIN

SEED = "seed"
_SINGLETON_DEFAULTS: dict[str, dict[str, Any]] = {
    "systemconfiguration": {"uuid": "default"},
    "controllerproperties": {},
    "cluster": {"name": "cluster-0-1"},
}


class FixtureError(ValueError):
    """A fixture file that cannot be loaded; the message names the file and the object."""


def read_fixtures(spec: str) -> dict[str, Any]:
    """`seed` or a path -> the parsed fixture document."""
    try:
        if spec == SEED:
            text = resources.files("akod.emulator").joinpath("fixtures/seed.json").read_text()
        else:
            text = Path(spec).read_text()
        data = json.loads(text)
    except OSError as exc:
        raise FixtureError(f"cannot read fixtures '{spec}': {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise FixtureError(f"fixtures '{spec}' is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("objects", {}), dict):
        raise FixtureError(f"fixtures '{spec}': expected {{\"objects\": {{\"<type>\": [...]}}}}")
    return data


def stable_uuid(obj_type: str, tenant: str, name: str) -> str:
    """`<type>-<uuid4-shaped>` derived from the identity, the same at every load."""
    digest = hashlib.sha256(f"{obj_type}/{tenant}/{name}".encode()).digest()
    return f"{obj_type}-{uuidlib.UUID(bytes=digest[:16], version=4)}"


def load_into(writer: Writer, data: dict[str, Any], *, source: str) -> int:
    """Create every fixture object through `writer`; returns how many were created."""
    objects: dict[str, list[Any]] = dict(data.get("objects", {}))
    known = writer.store.schema.known_types()
    for obj_type in objects:
        if obj_type not in known:
            raise FixtureError(f"fixtures '{source}': unknown object type '{obj_type}'")
    tenants = list(objects.pop("tenant", []))
    if not any(isinstance(t, dict) and t.get("name") == ADMIN for t in tenants):
        tenants.insert(0, {"uuid": ADMIN, "name": ADMIN, "local": True, "_system_default": True})
    ordered = [("tenant", tenants), *objects.items()]
    for obj_type, defaults in _SINGLETON_DEFAULTS.items():
        if obj_type not in objects:
            ordered.append((obj_type, [dict(defaults)]))
    created = 0
    for obj_type, bodies in ordered:
        for index, entry in enumerate(bodies):
            if not isinstance(entry, dict):
                raise FixtureError(f"fixtures '{source}': {obj_type}[{index}] is not an object")
            body = dict(entry)
            protected = bool(body.pop("_system_default", False)) or body.get("system_default") is True
            if obj_type == "tenant" and body.get("name") == ADMIN:
                body.setdefault("uuid", ADMIN)
            slug = body.pop("uuid", None) or _derived_uuid(writer, obj_type, body)
            try:
                writer.create(obj_type, body, slug=str(slug), protected=protected)
            except ApiError as exc:
                name = entry.get("name", f"#{index}")
                raise FixtureError(
                    f"fixtures '{source}': {obj_type} '{name}' rejected: {exc.message}"
                ) from exc
            created += 1
    return created


def _derived_uuid(writer: Writer, obj_type: str, body: dict[str, Any]) -> str:
    tenant = body.get("tenant_ref")
    tenant_key = tenant if isinstance(tenant, str) else ADMIN
    cloud = body.get("cloud_ref")
    name = str(body.get("name", obj_type))
    return stable_uuid(obj_type, tenant_key, f"{name}@{cloud}" if isinstance(cloud, str) else name)
