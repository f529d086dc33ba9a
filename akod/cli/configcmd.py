"""`akod config import-helm values.yaml`: print the akod TOML for an AKO Helm values file."""

from __future__ import annotations

import sys
from pathlib import Path

from akod.config import ConfigError, helm_values_to_toml, load_helm_values


def import_helm(*, values_path: Path) -> int:
    try:
        values = load_helm_values(values_path)
    except (ConfigError, OSError) as exc:
        print(f"akod: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(helm_values_to_toml(values))
    return 0
