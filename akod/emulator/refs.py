"""References between objects: the three spellings a client may send and the one that is stored.

Clients write a ref as a full URL (`https://host/api/pool/pool-1#p1`), a relative path
(`/api/pool/pool-1`) or a name lookup (`/api/pool/?name=p1`, `/api/pool?name=p1`); AKO uses all
three. The controller resolves them on write and always answers with the URL form, its host taken
from the request. So the store keeps a `Ref(type, uuid)` value inside object bodies and the
renderer spells it per response; a name lookup happens once, here, in the tenant of the request
with a fallback to `admin` for shared objects, and a missing target is the controller's 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote

from akod.emulator.errors import bad_request, not_found
from akod.emulator.schema import GLOBAL_TYPES, SHARED_TYPES

if TYPE_CHECKING:
    from akod.emulator.store import Store, StoredObject

ADMIN = "admin"

_REF = re.compile(
    r"^(?:https?://[^/]+)?/api/(?P<type>[a-z0-9\-]+)"
    r"(?:/(?P<uuid>[^/?#]+))?/?(?:\?(?P<query>[^#]*))?(?:#(?P<name>.*))?$"
)


class Ref:
    """A resolved reference as stored in a body: the target's type and uuid (immutable)."""

    __slots__ = ("hint", "type", "uuid")

    def __init__(self, obj_type: str, uuid: str, hint: str | None = None) -> None:
        self.type = obj_type
        self.uuid = uuid
        self.hint = hint  # name given by the client, used only when the target is not stored

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and other.uuid == self.uuid and other.type == self.type

    def __hash__(self) -> int:
        return hash(self.uuid)

    def __repr__(self) -> str:
        return f"Ref({self.type!r}, {self.uuid!r})"


@dataclass(frozen=True, slots=True)
class ParsedRef:
    type: str
    uuid: str | None
    name: str | None  # from `?name=` (a lookup) or `#name` (a hint)
    by_name: bool


def parse_ref(value: str) -> ParsedRef | None:
    """Split any accepted ref spelling; None when the string is not a ref at all."""
    match = _REF.match(value.strip())
    if match is None:
        return None
    obj_type, uuid, query, fragment = match.group("type", "uuid", "query", "name")
    if uuid is None:
        names = parse_qs(query or "").get("name")
        if not names:
            return None
        return ParsedRef(type=obj_type, uuid=None, name=names[-1], by_name=True)
    return ParsedRef(
        type=obj_type, uuid=unquote(uuid), name=unquote(fragment) if fragment else None, by_name=False
    )


def visible_from(obj: StoredObject, tenant: str | None) -> bool:
    """Whether a request in `tenant` (None = `*`, all tenants) may see `obj`."""
    if tenant is None or obj.type in GLOBAL_TYPES or obj.tenant == tenant:
        return True
    return obj.tenant == ADMIN and obj.type in SHARED_TYPES


def resolve_ref(
    *,
    store: Store,
    value: str,
    target: str,
    tenant: str | None,
    cloud: str | None,
    path: str,
) -> Ref:
    """The stored form of a ref written by a client, or the controller's 404 for its target.

    `target` is the type the field points at (from the schema); `cloud` disambiguates names that
    exist once per cloud (`global`, `Default-Group`).
    """
    parsed = parse_ref(value)
    if parsed is None:
        raise bad_request(f"Invalid reference '{value}' in field '{path}'")
    model = store.schema.model(parsed.type)
    if target and parsed.type != target:
        raise bad_request(
            f"Field '{path}' refers to a {store.schema.model(target)}, not a {model}: '{value}'"
        )
    known = parsed.type in store.schema.known_types()
    if not parsed.by_name:
        assert parsed.uuid is not None
        obj = store.get(parsed.uuid)
        if obj is not None and obj.type == parsed.type and visible_from(obj, tenant):
            return Ref(obj.type, obj.uuid)
        if known:
            raise not_found(model)
        # A type the emulator does not model (e.g. a WAF policy): kept verbatim by uuid.
        return Ref(parsed.type, parsed.uuid, parsed.name)
    assert parsed.name is not None
    obj = find_visible(store=store, obj_type=parsed.type, name=parsed.name, tenant=tenant, cloud=cloud)
    if obj is None:
        raise not_found(model)
    return Ref(obj.type, obj.uuid)


def find_visible(
    *, store: Store, obj_type: str, name: str, tenant: str | None, cloud: str | None
) -> StoredObject | None:
    """Look a name up in the request tenant first, then in `admin` (shared objects)."""
    candidates = [o for o in store.by_name(obj_type, name) if visible_from(o, tenant)]
    if not candidates:
        return None
    if tenant is not None:
        own = [o for o in candidates if o.tenant == tenant]
        candidates = own or candidates
    if cloud is not None:
        same_cloud = [o for o in candidates if o.cloud == cloud]
        candidates = same_cloud or candidates
    return candidates[0]
