"""Checks a request body against the object's definition and returns the body to store.

One walk does everything the controller does to an incoming body: type checks (with the
controller's leniency for `"true"` and `"42"` strings, seen in the recordings), enum checks,
required fields, defaults (spec defaults plus the ones a 20.1 controller fills, see
`fixtures/server_defaults.json`) at every nesting level, ref resolution through a callback, and
unknown fields: dropped like a real controller does, or, in strict mode, a 400 that names the
field path so a client bug shows up at the call that has it. Read-only fields sent back by a
client that PUTs what it read are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from akod.emulator.errors import bad_request
from akod.emulator.refs import Ref
from akod.emulator.schema import MISSING, Definition, Field, Schema
from akod.emulator.store import copy_tree

#: resolve(target type, written value, field path) -> stored Ref
RefResolver = Callable[[str, str, str], Ref]

#: Identity fields the CRUD layer handles itself; never "unknown", never validated here.
IDENTITY_FIELDS = frozenset({"url", "uuid", "_last_modified"})


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Validator:
    """Validates one body of one model; `partial` skips required fields and defaults (PATCH items)."""

    def __init__(
        self,
        *,
        schema: Schema,
        model: str,
        strict: bool,
        resolve: RefResolver,
        partial: bool = False,
        keep_readonly: bool = False,
    ) -> None:
        self.schema = schema
        self.model = model
        self.strict = strict
        self.resolve = resolve
        self.partial = partial
        self.keep_readonly = keep_readonly

    def top(self, definition: Definition, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request(f"Invalid body for {self.model}: expected a JSON object")
        return self.object(definition, body, "", top=True)

    def object(
        self, definition: Definition, value: Any, path: str, *, top: bool = False
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self._type_error(path or definition.name, "object", value)
        fields = definition.fields
        out: dict[str, Any] = {}
        for key, item in value.items():
            if top and key in IDENTITY_FIELDS:
                continue
            field = fields.get(key)
            sub = _join(path, key)
            if field is None:
                if self.strict:
                    raise bad_request(f"Unknown field '{sub}' in {self.model}")
                continue
            if item is None or (field.readonly and not self.keep_readonly):
                continue
            out[key] = self.value(field, item, sub)
        if not self.partial:
            self._complete(definition, out, path)
        return out

    def _complete(self, definition: Definition, out: dict[str, Any], path: str) -> None:
        for key, field in definition.fields.items():
            if key in out or field.default is MISSING:
                continue
            default = copy_tree(field.default)
            if field.kind == "object" and isinstance(default, dict):
                default = self.value(field, default, _join(path, key))
            out[key] = default
        for key in definition.required:
            if key not in out:
                raise bad_request(f"Missing required field '{_join(path, key)}' in {self.model}")

    def value(self, field: Field, value: Any, path: str) -> Any:
        kind = field.kind
        if kind == "string":
            if isinstance(value, Ref):
                return value
            if not isinstance(value, str):
                raise self._type_error(path, "string", value)
            if field.target is not None:
                return self.resolve(field.target, value, path)
            if field.enum is not None and value not in field.enum:
                allowed = ", ".join(sorted(field.enum))
                raise bad_request(
                    f"Invalid value '{value}' for field '{path}' in {self.model}; "
                    f"allowed values: {allowed}"
                )
            return value
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise self._type_error(path, "boolean", value)
        if kind == "integer":
            if isinstance(value, bool):
                raise self._type_error(path, "integer", value)
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                try:
                    return int(value.strip())
                except ValueError:
                    pass
            raise self._type_error(path, "integer", value)
        if kind == "number":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            raise self._type_error(path, "number", value)
        if kind == "array":
            if not isinstance(value, list):
                raise self._type_error(path, "array", value)
            assert field.items is not None
            return [self.value(field.items, item, f"{path}[{i}]") for i, item in enumerate(value)]
        # kind == "object"
        definition = self.schema.definitions.get(field.definition or "")
        if definition is None:
            if not isinstance(value, dict):
                raise self._type_error(path, "object", value)
            return copy_tree(value)
        return self.object(definition, value, path)

    def _type_error(self, path: str, expected: str, value: Any) -> Exception:
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return bad_request(
            f"Invalid value for field '{path}' in {self.model}: expected {expected}, got {shown}"
        )
