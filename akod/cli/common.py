"""What several sub-commands share: loading the config with CONTRACT's exit code, printing tables."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from akod.config import ConfigError, Settings, load_settings

EXIT_BAD_CONFIG = 2


class CliExit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def load_or_exit(config_path: Path) -> Settings:
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        print(f"akod: {exc}", file=sys.stderr)
        raise CliExit(EXIT_BAD_CONFIG) from None


def table(rows: Sequence[Sequence[object]], *, header: Sequence[str]) -> str:
    cells = [[str(c) for c in header], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def read_password_or_exit(settings: Settings) -> str:
    import os

    from akod.config import read_controller_password

    try:
        return read_controller_password(settings, environ=dict(os.environ))
    except ConfigError as exc:
        print(f"akod: {exc}", file=sys.stderr)
        raise CliExit(EXIT_BAD_CONFIG) from None


def avi_client(settings: Settings, *, password: str):  # type: ignore[no-untyped-def]
    """A client for one-shot commands: same pacing keys as the daemon, fewer retries."""
    from akod.avi import AviClient, Pacer

    s = settings
    return AviClient(
        base_url=s.controller.base_url, username=s.controller.username, password=password,
        tenant=s.controller.tenant, version=s.controller.version, ca_file=str(s.controller.ca_file or ""),
        insecure=s.controller.insecure, timeout_s=min(s.api.timeout_s, 30.0),
        pacer=Pacer(rate=s.api.rate, burst=s.api.burst, workers=s.api.workers), max_attempts=3,
    )
