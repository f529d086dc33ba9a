"""The observed Kubernetes object, as every layer sees it: the model's input.

The kube edge trims raw objects into this shape, the store persists it, and translations read
its `body`. It lives in the model layer because it is the model's vocabulary; the edges only move
it around.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Observed:
    """A trimmed Kubernetes object (never secret material)."""

    kind: str
    namespace: str
    name: str
    uid: str
    resource_version: str
    body: dict[str, Any] = field(hash=False, compare=False)
