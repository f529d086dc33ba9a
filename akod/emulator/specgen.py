"""Compiles the controller's Swagger files into the compact schema the emulator ships.

The Swagger 2.0 files of vmware/alb-sdk (one per object type, mostly prose) live in two folders:
`shared/avi-api-spec/` beside the project (the core types, ~2 MB) and `akod/emulator/specs/` in the
repository (the types AKO's CRDs name: WAF, SSL, PKI, persistence, analytics, error page, ICAP,
security policies), neither inside the installed package. The emulator needs only the machine-usable part:
per definition the required fields, and per field its JSON type, enum values (written in the
prose as "Enum options - A, B, C."), default, nested definition, and ref target type (written as
"It is a reference to an object of type X."). This module extracts exactly that into
`fixtures/schema.json`, so the emulator validates with the real specs without carrying them.
A test recompiles the specs and compares, so the shipped file cannot silently drift.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

SOURCE_NOTE = (
    "Compiled by akod.emulator.specgen from the Swagger files of vmware/alb-sdk "
    "(swagger/*.json, v30.2.1, commit d181a90, Apache License 2.0) in shared/avi-api-spec and "
    "akod/emulator/specs; descriptions dropped."
)

#: The project's own specs (the types AKO's CRDs refer to), always present in the repository.
PROJECT_SPECS = Path(__file__).resolve().parent / "specs"

_ENUM = re.compile(r"Enum options - ([A-Za-z0-9_\-, ]+)")
_TARGET = re.compile(r"It is a reference to an object of type ([A-Za-z0-9]+)")
_SINCE = re.compile(r"Field introduced in ([0-9][0-9., ]*[0-9])")
_DEF_PREFIX = "#/definitions/"


def _field(prop: dict[str, Any], models: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    description = prop.get("description", "")
    if "$ref" in prop:
        out["type"] = "object"
        out["ref"] = prop["$ref"].removeprefix(_DEF_PREFIX)
    else:
        out["type"] = prop.get("type", "string")
    if out["type"] == "array":
        out["items"] = _field(prop.get("items", {}), models)
    if "default" in prop:
        out["default"] = prop["default"]
    if prop.get("readOnly"):
        out["readonly"] = True
    enum = _ENUM.search(description)
    if enum and out["type"] in ("string", "array"):
        values = [v.strip() for v in enum.group(1).split(",") if v.strip()]
        (out["items"] if out["type"] == "array" else out)["enum"] = values
    since = _SINCE.search(description)
    if since:
        versions = [v.strip() for v in since.group(1).split(",") if v.strip()]
        out["since"] = min(versions, key=lambda v: tuple(int(p) for p in v.split(".")))
    target = _TARGET.search(description)
    if target:
        model = target.group(1)
        models[model.lower()] = model
        (out["items"] if out["type"] == "array" else out)["target"] = model.lower()
    return out


def spec_files(*spec_dirs: Path) -> list[Path]:
    """Every `*.json` of the folders, ordered by file name; a name in two folders is an error."""
    by_name: dict[str, Path] = {}
    for folder in spec_dirs:
        for path in folder.glob("*.json"):
            if path.name in by_name:
                raise ValueError(f"{path.name} is in both {by_name[path.name].parent} and {folder}")
            by_name[path.name] = path
    return [by_name[name] for name in sorted(by_name)]


def compile_specs(*spec_dirs: Path) -> dict[str, Any]:
    """The compact schema of every `*.json` Swagger file in `spec_dirs` (later names win a clash)."""
    definitions: dict[str, Any] = {}
    types: dict[str, str] = {}
    models: dict[str, str] = {}
    for path in spec_files(*spec_dirs):
        spec = json.loads(path.read_text())
        if "definitions" not in spec:
            continue
        model = path.stem
        types[model.lower()] = model
        models[model.lower()] = model
        for name, definition in spec["definitions"].items():
            if name.endswith("ApiResponse"):
                continue
            compact: dict[str, Any] = {
                "required": sorted(definition.get("required", [])),
                "properties": {
                    key: _field(prop, models)
                    for key, prop in sorted(definition.get("properties", {}).items())
                },
            }
            definitions[name] = compact
    return {
        "_source": SOURCE_NOTE,
        "types": dict(sorted(types.items())),
        "models": dict(sorted(models.items())),
        "definitions": dict(sorted(definitions.items())),
    }


def write_schema(*, spec_dirs: tuple[Path, ...], out: Path) -> None:
    """Recompile the shipped schema: `write_schema(spec_dirs=(shared, PROJECT_SPECS), out=...)`."""
    out.write_text(json.dumps(compile_specs(*spec_dirs), indent=None, separators=(",", ":")) + "\n")


def main(argv: list[str] | None = None) -> int:
    """`python -m akod.emulator.specgen [SHARED_SPEC_DIR]`: rewrite `fixtures/schema.json`."""
    args = sys.argv[1:] if argv is None else argv
    repo = Path(__file__).resolve().parents[2]
    shared = Path(args[0]) if args else repo.parent / "shared" / "avi-api-spec"
    if not shared.is_dir():
        print(f"no Swagger specs in {shared}", file=sys.stderr)
        return 2
    out = Path(__file__).resolve().parent / "fixtures" / "schema.json"
    write_schema(spec_dirs=(shared, PROJECT_SPECS), out=out)
    print(f"wrote {out} from {shared} and {PROJECT_SPECS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
