"""Collection GET: the filters, ordering and paging the controller applies to `/api/<type>`.

Clients find objects by name far more than they list them (AKO: `?name=`, `?name.in=`,
`?uuid.in=`, `cloud_ref.name=`, `created_by=`, `label_key=`), so those filters use the store's
indexes and never scan the type; the other filters narrow what is left. The answer is the
controller's envelope `{count, results, next}` with `next` only while more pages remain.

Paging: `page` is 1-based; `page_size` defaults to 25 (the value believed to be the controller's,
see avi-api.md 2.2) and is capped at 200 (the Python SDK's limit): a larger value is served as 200
rather than refused, and `next` leads to the rest, so a client that follows `next` loses nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from akod.emulator.errors import bad_request
from akod.emulator.refs import visible_from
from akod.emulator.store import Store, StoredObject

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 200

#: Query parameters that shape the answer rather than select objects.
PRESENTATION = frozenset({"fields", "include_name", "include_refs", "skip_default",
                          "join_subresources", "page", "page_size", "sort"})


@dataclass(frozen=True, slots=True)
class Page:
    count: int
    objects: list[StoredObject]
    next_page: int | None


def flag(query: Mapping[str, str], key: str) -> bool:
    """`?include_name`, `?include_name=` and `?include_name=true` all mean yes."""
    if key not in query:
        return False
    return query[key].strip().lower() not in ("false", "0", "no")


def fields_of(query: Mapping[str, str]) -> list[str] | None:
    raw = query.get("fields")
    if raw is None:
        return None
    return [f for f in (part.strip() for part in raw.split(",")) if f]


def _int(query: Mapping[str, str], key: str, default: int) -> int:
    raw = query.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request(f"Invalid value '{raw}' for query parameter '{key}'") from exc
    if value < 1:
        raise bad_request(f"Invalid value '{raw}' for query parameter '{key}': must be >= 1")
    return value


def _csv(raw: str) -> list[str]:
    return [part for part in (p.strip() for p in raw.split(",")) if part]


def _seed(store: Store, obj_type: str, query: Mapping[str, str]) -> Iterable[StoredObject]:
    """The candidates, from an index when the query allows it."""
    if "name" in query:
        return store.by_name(obj_type, query["name"])
    if "name.in" in query:
        return [o for name in dict.fromkeys(_csv(query["name.in"])) for o in store.by_name(obj_type, name)]
    if "uuid.in" in query and query.get("exclude") != "uuid.in":
        found = (store.get(u) for u in dict.fromkeys(_csv(query["uuid.in"])))
        return [o for o in found if o is not None and o.type == obj_type]
    if "refers_to" in query:
        _, _, target = query["refers_to"].partition(":")
        return [o for o in store.referrers(target) if o.type == obj_type]
    return store.of_type(obj_type)


def _parse_pair(raw: str, key: str) -> tuple[str, str]:
    obj_type, sep, uuid = raw.partition(":")
    if not sep or not uuid:
        raise bad_request(f"Invalid value '{raw}' for query parameter '{key}': expected <type>:<uuid>")
    return obj_type, uuid


def select(*, store: Store, obj_type: str, tenant: str | None,
           query: Mapping[str, str]) -> list[StoredObject]:
    """Every visible object of the type matching the query's filters, in listing order."""
    objects = [o for o in _seed(store, obj_type, query) if visible_from(o, tenant)]
    if "refers_to" in query:
        _parse_pair(query["refers_to"], "refers_to")
    if "name.contains" in query:
        objects = [o for o in objects if query["name.contains"] in o.name]
    if "name.icontains" in query:
        needle = query["name.icontains"].lower()
        objects = [o for o in objects if needle in o.name.lower()]
    if "uuid.in" in query and query.get("exclude") == "uuid.in":
        excluded = set(_csv(query["uuid.in"]))
        objects = [o for o in objects if o.uuid not in excluded]
    if "created_by" in query:
        objects = [o for o in objects if o.body.get("created_by") == query["created_by"]]
    if "cloud_ref.name" in query:
        clouds = {c.uuid for c in store.by_name("cloud", query["cloud_ref.name"])}
        objects = [o for o in objects if o.cloud in clouds]
    for key in ("cloud_ref.uuid", "cloud_uuid"):
        if key in query:
            objects = [o for o in objects if o.cloud == query[key]]
    if "label_key" in query:
        objects = [o for o in objects if _has_marker(o, query["label_key"], query.get("label_value"))]
    if "referred_by" in query:
        _, uuid = _parse_pair(query["referred_by"], "referred_by")
        source = store.get(uuid)
        targets = source.refs if source is not None else frozenset()
        objects = [o for o in objects if o.uuid in targets]
    sort = query.get("sort")
    if sort:
        key = sort.lstrip("-")
        objects.sort(key=lambda o: str(o.body.get(key, "")), reverse=sort.startswith("-"))
    return objects


def _has_marker(obj: StoredObject, key: str, value: str | None) -> bool:
    for marker in obj.body.get("markers") or []:
        if marker.get("key") == key and (value is None or value in (marker.get("values") or [])):
            return True
    return False


def paginate(objects: list[StoredObject], query: Mapping[str, str]) -> Page:
    page = _int(query, "page", 1)
    size = min(_int(query, "page_size", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
    start = (page - 1) * size
    chunk = objects[start : start + size]
    more = start + size < len(objects)
    return Page(count=len(objects), objects=chunk, next_page=page + 1 if more else None)


def next_url(*, scheme: str, host: str, path: str, query: Mapping[str, str], page: int) -> str:
    params = dict(query)
    params["page"] = str(page)
    return f"{scheme}://{host}{path}?{urlencode(params)}"

