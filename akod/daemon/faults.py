"""Faults a test can inject into a real `akod run` process, through one environment variable.

The end-to-end tests drive akod as systemd does, from outside; some failures cannot be caused
from outside on demand (the store's writer task dying, say). `AKOD_TEST_FAULTS` names them, as
comma-separated `name=value` pairs; nothing else reads it, an unknown name is an error (a typo
must not make a test pass without its fault), and without the variable the daemon is untouched.

- `store_writer_crash_after=N`: the state database's writer task raises once it has taken N
  writes (shows that a dead writer stops the watchdog and the daemon exits non-zero).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ENV = "AKOD_TEST_FAULTS"


@dataclass(frozen=True)
class Faults:
    store_writer_crash_after: int | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Faults:
        spec = environ.get(ENV, "").strip()
        if not spec:
            return cls()
        values: dict[str, int] = {}
        for item in spec.split(","):
            name, _, value = item.strip().partition("=")
            if name not in cls.__dataclass_fields__ or not value.strip().isdigit():
                raise ValueError(f"{ENV}: {item.strip()!r} is not one of "
                                 f"{', '.join(f + '=N' for f in cls.__dataclass_fields__)}")
            values[name] = int(value)
        return cls(**values)
