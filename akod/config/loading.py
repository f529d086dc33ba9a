"""Read the TOML file into `Settings`, or fail with every problem at once.

The one door through which configuration enters akod (`akod run`, `akod check`, SIGHUP reload).
It reads bytes with `tomllib`, validates with the models of `settings.py`, and converts every
failure (missing file, syntax error, wrong key or value) into a `ConfigError` whose messages name
the file and the key. All problems are reported together, so a user fixes the file in one pass.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from akod.config.errors import (
    ConfigError,
    messages_from_toml_error,
    messages_from_validation_error,
)
from akod.config.settings import Settings


def load_settings(path: Path) -> Settings:
    """The validated settings in the TOML file at `path`; relative paths in it are resolved
    against the file's directory. Raises ConfigError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(["no such file; start from config.example.toml"], source=path) from None
    except IsADirectoryError:
        raise ConfigError(["is a directory, not a config file"], source=path) from None
    except PermissionError:
        raise ConfigError(
            ["permission denied while reading the config file"], source=path
        ) from None
    except OSError as error:
        raise ConfigError([f"cannot read: {error.strerror}"], source=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            [f"not UTF-8 text (byte {error.start}); TOML files must be UTF-8"], source=path
        ) from None
    return parse_settings(text, source=path)


def parse_settings(text: str, *, source: Path | None = None) -> Settings:
    """The validated settings in TOML `text`; `source` names it in messages and anchors
    relative paths (to its directory). Raises ConfigError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(messages_from_toml_error(error), source=source) from None
    return validate_settings(data, source=source)


def validate_settings(data: Mapping[str, Any], *, source: Path | None = None) -> Settings:
    """The validated settings from an already-parsed TOML document. Raises ConfigError."""
    document = dict(data)
    # A missing [cluster] or [controller] table is reported key by key ("[cluster] name:
    # required key is missing"), which tells the user exactly what to write.
    for name, field in Settings.model_fields.items():
        if field.is_required() and name not in document:
            document[name] = {}
    context = {"config_dir": source.parent.absolute()} if source is not None else {}
    try:
        return Settings.model_validate(document, context=context)
    except ValidationError as error:
        raise ConfigError(
            messages_from_validation_error(error, root=Settings), source=source
        ) from None
