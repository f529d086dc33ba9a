"""The observed Kubernetes object, as every layer sees it: the model's input.

The kube edge trims raw objects into this shape, the store persists it, and translations read
its `body`. It lives in the model layer because it is the model's vocabulary; the edges only move
it around.

A TLS Secret is the one object whose content the model needs but nothing may persist: its decoded
PEM strings ride in `material`, outside `body` (the only part the store writes), and out of
equality, hashing and `repr` so that they never reach a log line or a comparison by accident.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Observed:
    """A trimmed Kubernetes object; `body` never holds secret material, `material` (Secrets only) does."""

    kind: str
    namespace: str
    name: str
    uid: str
    resource_version: str
    body: dict[str, Any] = field(hash=False, compare=False)
    material: Mapping[str, str] | None = field(default=None, hash=False, compare=False, repr=False)
