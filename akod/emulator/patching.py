"""PATCH with `add` / `replace` / `delete`, as the controller documents it, plus nested merges.

Concurrent edits of one list (static routes of a shared VRF, servers of a pool) are why clients
PATCH instead of PUT: `add` appends list entries, `delete` removes the entries that match the
fields given (a static route by `route_id`, a server by `ip` and `port`), `replace` sets a field,
and a scalar `delete` unsets it.

Object-valued fields are a choice of ours: the reference (avi-api.md 2.5) says the operations
apply at "field depth of 1", yet incremental rule edits of a large HTTP policy set need to reach
the list inside an object: `{"add": {"http_request_policy": {"rules": [...]}}}` and
`{"delete": {"http_request_policy": {"rules": [{"name": "x"}]}}}`. So when the field is an object
and the value given is a non-empty object, the operation recurses the way a protobuf merge does:
`add` appends to the nested lists and sets the nested scalars (creating the object if absent),
`delete` removes the matching entries from the nested lists and unsets the nested scalars named.
An empty object or `null` keeps the depth-1 meaning (`add` sets, `delete` unsets), and
`replace` always sets the whole field. One PATCH may carry all three operations; they run in
the order add, replace, delete, so an entry both added and deleted (same name) ends up deleted,
and checks such as unique rule indexes apply only to the final body.

Entries in the operations are normalised with the same validator as full bodies (refs resolved,
types coerced) before they are matched or merged; the merged body is then validated again as a
whole by the CRUD layer (required fields, defaults, the checks of `constraints`).
"""

from __future__ import annotations

from typing import Any

from akod.emulator.errors import bad_request
from akod.emulator.schema import Definition, Field
from akod.emulator.validation import Validator

OPERATIONS = ("add", "replace", "delete")


def split_operations(body: Any, model: str) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The operations of a PATCH body and the `_last_modified` it carries, if any."""
    if not isinstance(body, dict) or not body:
        raise bad_request(
            f'Invalid PATCH body for {model}: expected {{"add"|"replace"|"delete": {{...}}}}'
        )
    stamp: str | None = None
    operations: dict[str, dict[str, Any]] = {}
    for key, value in body.items():
        if key == "_last_modified":
            stamp = str(value)
        elif key in OPERATIONS:
            if not isinstance(value, dict):
                raise bad_request(f"Invalid PATCH '{key}' for {model}: expected an object")
            if "_last_modified" in value:
                stamp = str(value["_last_modified"])
            operations[key] = {k: v for k, v in value.items() if k not in ("_last_modified", "uuid", "url")}
        elif key == "json_patch":
            raise bad_request("json_patch is not supported by this controller; use add/replace/delete")
        else:
            raise bad_request(f"Invalid PATCH operation '{key}' for {model}; use add, replace or delete")
    return operations, stamp


def apply_operations(
    *,
    definition: Definition,
    current: dict[str, Any],
    operations: dict[str, dict[str, Any]],
    normaliser: Validator,
) -> dict[str, Any]:
    """`current` (a copy the caller owns) with the operations applied, in add, replace, delete order."""
    for op in OPERATIONS:
        for key, given in operations.get(op, {}).items():
            field = definition.fields.get(key)
            if field is None:
                if normaliser.strict:
                    raise bad_request(f"Unknown field '{key}' in {normaliser.model}")
                continue
            value = normaliser.value(field, given, key) if given is not None else None
            if op == "replace":
                current[key] = value
            elif op == "add":
                _add(normaliser, current, key, field, value)
            else:
                _delete(normaliser, current, key, field, value)
    return current


def _nested(normaliser: Validator, field: Field, value: Any) -> Definition | None:
    """The definition to recurse into, when `field` is an object and `value` a non-empty one."""
    if field.kind != "object" or not isinstance(value, dict) or not value:
        return None
    return normaliser.schema.definitions.get(field.definition or "")


def _add(normaliser: Validator, target: dict[str, Any], key: str, field: Field, value: Any) -> None:
    definition = _nested(normaliser, field, value)
    if field.kind == "array":
        target[key] = list(target.get(key) or []) + list(value or [])
    elif definition is not None:
        inner = target.get(key)
        merged: dict[str, Any] = dict(inner) if isinstance(inner, dict) else {}
        for sub_key, sub_value in value.items():
            _add(normaliser, merged, sub_key, definition.fields[sub_key], sub_value)
        target[key] = merged
    else:
        target[key] = value


def _delete(normaliser: Validator, target: dict[str, Any], key: str, field: Field, value: Any) -> None:
    definition = _nested(normaliser, field, value)
    if field.kind == "array":
        target[key] = _without(target.get(key) or [], value or [])
    elif definition is not None:
        inner = target.get(key)
        if not isinstance(inner, dict):
            return  # nothing there to delete from
        kept = dict(inner)
        for sub_key, sub_value in value.items():
            _delete(normaliser, kept, sub_key, definition.fields[sub_key], sub_value)
        target[key] = kept
    else:
        target.pop(key, None)


def _without(entries: list[Any], patterns: list[Any]) -> list[Any]:
    return [e for e in entries if not any(_matches(e, p) for p in patterns)]


def _matches(entry: Any, pattern: Any) -> bool:
    """A list entry matches when every field given in the pattern is equal (dicts: recursively)."""
    if isinstance(pattern, dict) and isinstance(entry, dict):
        return all(k in entry and _matches(entry[k], v) for k, v in pattern.items())
    return bool(entry == pattern)
