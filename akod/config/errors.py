"""Turn every kind of config failure into one-line messages that name the key.

A user who mistypes a key gets `[l7] shard_size: unknown key (did you mean 'shard_vs_size'?)`,
never a pydantic traceback or pydantic's own multi-line text. This module owns that format: the
`ConfigError` the rest of akod catches, the `[section] key[index].subkey` rendering of a location,
and the translation of pydantic's error records and tomllib's syntax errors into it. It knows
nothing about akod's sections; the root model is passed in where key suggestions need it.
"""

from __future__ import annotations

import datetime
import difflib
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

Loc = tuple[str | int, ...]

# The error type our own validators raise; its message is already in the final form.
AKOD_ERROR_TYPE = "akod_invalid"


class ConfigError(Exception):
    """The config (or a secret it points to) is unusable; `messages` says why, one per line."""

    def __init__(self, messages: Sequence[str], *, source: Path | None = None) -> None:
        self.messages: list[str] = list(messages)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        prefix = f"{self.source}: " if self.source is not None else ""
        return "\n".join(prefix + message for message in self.messages)


def problem(message: str, *, at: Loc = ()) -> PydanticCustomError:
    """An error for a validator to raise; `at` extends the location (for model-level checks)."""
    return PydanticCustomError(AKOD_ERROR_TYPE, "{detail}", {"detail": message, "at": at})


def describe_input(value: Any) -> str:
    """How a TOML value is shown back to the user: strings quoted, tables and arrays by kind."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, datetime.date | datetime.time):
        return f"a date/time ({value.isoformat()})"
    return type(value).__name__


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest candidate, case-insensitively; '' if none is close."""
    options = list(candidates)
    for option in options:
        if option.casefold() == word.casefold():
            return f" (did you mean {option!r}?)"
    folded = {option.casefold(): option for option in options}
    close = difflib.get_close_matches(word.casefold(), list(folded), n=1, cutoff=0.6)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""


def format_location(loc: Loc) -> str:
    """('network', 'vip_networks', 0, 'cidr') -> '[network] vip_networks[0].cidr'."""
    if not loc:
        return "(top level)"
    section, *rest = loc
    text = ""
    for part in rest:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return f"[{section}] {text}" if text else f"[{section}]"


def messages_from_toml_error(error: tomllib.TOMLDecodeError) -> list[str]:
    """'Invalid value (at line 3, column 7)' -> 'TOML syntax error at line 3, column 7: ...'."""
    text = str(error)
    match = re.fullmatch(r"(?s)(.*?)\s*\((at line \d+, column \d+|at end of document)\)", text)
    if match is None:
        return [f"TOML syntax error: {text}"]
    reason, where = match.groups()
    reason = reason[:1].lower() + reason[1:]
    return [f"TOML syntax error {where}: {reason}"]


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "an array",
    "tuple_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dataclass_type": "a table",
}

_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def messages_from_validation_error(error: ValidationError, *, root: type[BaseModel]) -> list[str]:
    """One message per pydantic error record, in pydantic's order, without duplicates."""
    messages: list[str] = []
    for details in error.errors(include_url=False):
        message = _message(details, root=root)
        if message not in messages:
            messages.append(message)
    return messages


def _message(details: ErrorDetails, *, root: type[BaseModel]) -> str:
    kind = details["type"]
    loc: Loc = tuple(details["loc"])
    ctx = details.get("ctx") or {}
    value = details.get("input")

    if kind == AKOD_ERROR_TYPE:
        loc = loc + tuple(ctx.get("at", ()))
        return f"{format_location(loc)}: {ctx['detail']}"
    if kind == "extra_forbidden":
        return _unknown_key(loc, value, root=root)
    if kind == "missing":
        return f"{format_location(loc)}: required key is missing"
    if kind in _EXPECTED:
        return f"{format_location(loc)}: expected {_EXPECTED[kind]}, got {describe_input(value)}"
    if kind in _BOUNDS:
        name, symbol = _BOUNDS[kind]
        bound = ctx[name]
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"{format_location(loc)}: must be {symbol} {bound}, got {describe_input(value)}"
    if kind == "finite_number":
        return f"{format_location(loc)}: must be a finite number, got {describe_input(value)}"
    if kind == "too_short":
        return (
            f"{format_location(loc)}: needs at least {ctx['min_length']} "
            f"entr{'y' if ctx['min_length'] == 1 else 'ies'}, got {ctx['actual_length']}"
        )
    if kind == "too_long":
        return (
            f"{format_location(loc)}: allows at most {ctx['max_length']} entries, "
            f"got {ctx.get('actual_length', 'more')}"
        )
    # Anything else: keep our format, use pydantic's one-line reason.
    reason = details["msg"]
    return f"{format_location(loc)}: {reason[:1].lower() + reason[1:]}"


def _unknown_key(loc: Loc, value: Any, *, root: type[BaseModel]) -> str:
    *parent, key = loc
    name = str(key)
    if not parent:
        if isinstance(value, dict):
            hint = did_you_mean(name, root.model_fields)
            return f"[{name}]: unknown section{hint}"
        homes = [section for section, model in _sections(root) if name in model.model_fields]
        hint = f" (it belongs in [{homes[0]}])" if homes else ""
        return f"{name}: unknown key outside any section{hint}"
    model = _model_at(root, tuple(parent))
    hint = did_you_mean(name, model.model_fields) if model is not None else ""
    return f"{format_location(loc)}: unknown key{hint}"


def _sections(root: type[BaseModel]) -> list[tuple[str, type[BaseModel]]]:
    found = []
    for section, field in root.model_fields.items():
        model = _as_model(field.annotation)
        if model is not None:
            found.append((section, model))
    return found


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the table at `loc`, following fields and array items."""
    current: Any = root
    for part in loc:
        if isinstance(part, int):
            args = [arg for arg in typing.get_args(_strip(current)) if arg is not Ellipsis]
            current = args[0] if args else None
        else:
            model = _as_model(current)
            if model is None or part not in model.model_fields:
                return None
            current = model.model_fields[part].annotation
    return _as_model(current)


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _as_model(annotation: Any) -> type[BaseModel] | None:
    annotation = _strip(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            model = _as_model(arg)
            if model is not None:
                return model
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None
