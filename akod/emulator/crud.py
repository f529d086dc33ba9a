"""Create, replace, patch and delete with the controller's semantics, independent of HTTP.

Every write goes through the same steps: decide the object's tenant and cloud, validate the body
(refs resolved in that tenant and cloud), fill what the controller computes, enforce unique names
(409), optimistic concurrency on `_last_modified` (412), checks across entries (`constraints`),
VIP allocation, then store with a new `_last_modified`. Deletes enforce referential integrity
(403 naming the referrers) and protect system defaults. The HTTP handlers and the fixture
loader both call these functions, so fixture objects are exactly what a client would have
created.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

from akod.emulator import constraints, typehooks
from akod.emulator.errors import bad_request, conflict, forbidden, precondition_failed
from akod.emulator.ipam import Ipam
from akod.emulator.patching import apply_operations, split_operations
from akod.emulator.refs import ADMIN, Ref, parse_ref, resolve_ref
from akod.emulator.schema import CLOUD_SCOPED, GLOBAL_TYPES, SINGLETONS, WRITE_ONLY
from akod.emulator.store import Store, StoredObject, copy_tree
from akod.emulator.validation import RefResolver, Validator

SYSTEM_DEFAULT_DELETE = "Cannot delete system default object"


@dataclass(frozen=True, slots=True)
class Writer:
    """Everything a write needs: the store, the IPAM, strictness, and the request's tenant."""

    store: Store
    ipam: Ipam
    strict: bool
    tenant: str | None  # tenant uuid of the request; None for `*`
    keep_readonly: bool = False  # fixtures may set read-only fields

    # -- public operations --------------------------------------------------------------------

    def create(self, obj_type: str, body: Any, *, slug: str | None = None,
               protected: bool = False) -> StoredObject:
        body = self._as_object(obj_type, body)
        uuid = slug or new_uuid(obj_type)
        if self.store.get(uuid) is not None:
            raise conflict(f"{self.model(obj_type)} object with uuid '{uuid}' already exists")
        tenant = self._tenant_for(obj_type, body)
        cloud = self._cloud_for(obj_type, body, tenant, previous=None)
        return self._write(obj_type, uuid, body, tenant, cloud, previous=None, protected=protected)

    def replace(self, obj: StoredObject, body: Any) -> StoredObject:
        if body is None:  # a PUT without a body rewrites the object as it is (cassette test_user_login)
            body = self.editable(obj)
        body = self._as_object(obj.type, body)
        self._check_stamp(obj, body.get("_last_modified"))
        cloud = self._cloud_for(obj.type, body, obj.tenant, previous=obj)
        return self._write(obj.type, obj.uuid, body, obj.tenant, cloud, previous=obj,
                           protected=obj.protected)

    def patch(self, obj: StoredObject, body: Any) -> StoredObject:
        model = self.model(obj.type)
        operations, stamp = split_operations(body, model)
        self._check_stamp(obj, stamp)
        definition = self.store.schema.definition_of(obj.type)
        current = self.editable(obj)
        if definition is None:
            for op, fields in operations.items():
                for key, value in fields.items():
                    if op == "delete":
                        current.pop(key, None)
                    else:
                        current[key] = value
        else:
            normaliser = self._validator(obj.type, obj.tenant, obj.cloud, partial=True)
            current = apply_operations(
                definition=definition, current=current, operations=operations, normaliser=normaliser
            )
        cloud = self.store.get(obj.cloud) if obj.cloud is not None else None
        return self._write(obj.type, obj.uuid, current, obj.tenant, cloud, previous=obj,
                           protected=obj.protected)

    def delete(self, obj: StoredObject) -> None:
        if obj.protected:
            raise forbidden(SYSTEM_DEFAULT_DELETE, obj_name=obj.name)
        users = [u for u in self.store.referrers(obj.uuid) if u.uuid != obj.uuid]
        if users:
            names = ", ".join(repr(f"{self.model(u.type)} {u.name}") for u in users[:20])
            raise forbidden(f"Cannot delete, object is referred by: [{names}]", obj_name=obj.name)
        if obj.type == "vsvip":
            self.ipam.release(obj.uuid)
        self.store.remove(obj)

    def check_writable(self, obj: StoredObject) -> None:
        """A shared `admin` object is readable from other tenants but not writable from them."""
        if self.tenant is None or obj.type in GLOBAL_TYPES or obj.tenant == self.tenant:
            return
        owner = self.store.name_of(obj.tenant)
        raise forbidden(
            f"Cannot modify {self.model(obj.type)} '{obj.name}' of tenant '{owner}' from another tenant"
        )

    # -- the common write path ----------------------------------------------------------------

    def _write(self, obj_type: str, uuid: str, body: dict[str, Any], tenant: str,
               cloud: StoredObject | None, *, previous: StoredObject | None,
               protected: bool) -> StoredObject:
        model = self.model(obj_type)
        definition = self.store.schema.definition_of(obj_type)
        secrets = dict(previous.secrets) if previous is not None else {}
        for key in WRITE_ONLY.get(obj_type, ()):
            if key in body:
                secrets[key] = body.pop(key)
        cloud_uuid = cloud.uuid if cloud is not None else None
        if definition is None:
            clean = self._schemaless(obj_type, body, tenant, cloud_uuid)
        else:
            body = dict(body)
            typehooks.prepare(obj_type, body)
            clean = self._validator(obj_type, tenant, cloud_uuid).top(definition, body)
            if "tenant_ref" in definition.fields:
                clean["tenant_ref"] = Ref("tenant", tenant)
            if "cloud_ref" in definition.fields and cloud is not None:
                clean["cloud_ref"] = Ref("cloud", cloud.uuid)
            typehooks.complete(store=self.store, obj_type=obj_type, body=clean, tenant=tenant,
                               cloud=cloud_uuid)
            constraints.check(obj_type=obj_type, model=model, body=clean)
        name = clean.get("name")
        if not isinstance(name, str) or not name:
            if obj_type not in ("systemconfiguration", "controllerproperties"):
                raise bad_request(f"Missing required field 'name' in {model}")
            name = ""
        self._check_unique(obj_type, uuid, name, tenant, cloud_uuid)
        if obj_type == "vsvip":
            typehooks.assign_vips(store=self.store, ipam=self.ipam, owner=uuid, body=clean,
                                  tenant=tenant, cloud=cloud_uuid, previous=previous)
        stored_body = {"uuid": uuid, **clean, "_last_modified": self.store.timestamp()}
        obj = StoredObject(type=obj_type, uuid=uuid, name=name, tenant=tenant, cloud=cloud_uuid,
                           body=stored_body, secrets=secrets, protected=protected)
        self.store.put(obj)
        return obj

    def _schemaless(self, obj_type: str, body: dict[str, Any], tenant: str,
                    cloud: str | None) -> dict[str, Any]:
        """Types without a spec are stored as given; top-level `*_ref(s)` strings still resolve."""
        clean: dict[str, Any] = {}
        for key, value in body.items():
            if key in ("url", "uuid", "_last_modified"):
                continue
            if key.endswith("_ref") and isinstance(value, str) and parse_ref(value):
                value = self._resolve(tenant, cloud)("", value, key)
            elif key.endswith("_refs") and isinstance(value, list):
                value = [self._resolve(tenant, cloud)("", v, f"{key}[{i}]")
                         if isinstance(v, str) and parse_ref(v) else v for i, v in enumerate(value)]
            clean[key] = copy_tree(value)
        clean["tenant_ref"] = Ref("tenant", tenant)
        return clean

    # -- helpers ---------------------------------------------------------------------------

    def model(self, obj_type: str) -> str:
        return self.store.schema.model(obj_type)

    def editable(self, obj: StoredObject) -> dict[str, Any]:
        """The stored body as a client would send it back (refs stay resolved, secrets restored)."""
        body: dict[str, Any] = copy_tree(obj.body)
        body.update(copy_tree(obj.secrets))
        return body

    def _as_object(self, obj_type: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request(f"Invalid body for {self.model(obj_type)}: expected a JSON object")
        return body

    def _check_stamp(self, obj: StoredObject, stamp: Any) -> None:
        if stamp is not None and str(stamp) != obj.body.get("_last_modified"):
            raise precondition_failed(f"Need to reload object data {self.model(obj.type)}")

    def _resolve(self, tenant: str, cloud: str | None) -> RefResolver:
        def resolve(target: str, value: str, path: str) -> Ref:
            return resolve_ref(store=self.store, value=value, target=target, tenant=tenant,
                               cloud=cloud, path=path)
        return resolve

    def _validator(self, obj_type: str, tenant: str, cloud: str | None, *,
                   partial: bool = False) -> Validator:
        return Validator(schema=self.store.schema, model=self.model(obj_type), strict=self.strict,
                         resolve=self._resolve(tenant, cloud), partial=partial,
                         keep_readonly=self.keep_readonly)

    def _tenant_for(self, obj_type: str, body: dict[str, Any]) -> str:
        if obj_type in GLOBAL_TYPES:
            return ADMIN
        written = body.get("tenant_ref")
        if isinstance(written, Ref):
            return written.uuid
        if isinstance(written, str):
            return resolve_ref(store=self.store, value=written, target="tenant", tenant=None,
                               cloud=None, path="tenant_ref").uuid
        return self.tenant or ADMIN

    def _cloud_for(self, obj_type: str, body: dict[str, Any], tenant: str,
                   previous: StoredObject | None) -> StoredObject | None:
        definition = self.store.schema.definition_of(obj_type)
        if definition is None or "cloud_ref" not in definition.fields:
            return None
        written = body.get("cloud_ref")
        if isinstance(written, Ref):
            return self.store.get(written.uuid)
        if isinstance(written, str):
            ref = resolve_ref(store=self.store, value=written, target="cloud", tenant=tenant,
                              cloud=None, path="cloud_ref")
            return self.store.get(ref.uuid)
        if previous is not None and previous.cloud is not None:
            return self.store.get(previous.cloud)
        return typehooks.default_cloud(store=self.store, obj_type=obj_type, raw=body, tenant=tenant)

    def _check_unique(self, obj_type: str, uuid: str, name: str, tenant: str,
                      cloud: str | None) -> None:
        if obj_type in SINGLETONS:
            return
        for other in self.store.by_name(obj_type, name):
            if other.uuid == uuid:
                continue
            same_scope = other.tenant == tenant or obj_type in GLOBAL_TYPES
            if same_scope and (obj_type not in CLOUD_SCOPED or other.cloud == cloud):
                scope = "Cloud ref, Tenant ref" if obj_type in CLOUD_SCOPED else "Tenant ref"
                raise conflict(
                    f"{self.model(obj_type)} object with this Name, {scope} already exists "
                    f"('{name}')"
                )


def new_uuid(obj_type: str) -> str:
    return f"{obj_type}-{uuidlib.uuid4()}"

