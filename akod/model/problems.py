"""What the model says when a Kubernetes object cannot be translated.

Bad input must never stop the daemon or touch unrelated objects: translation functions return
`Problem`s next to whatever they could translate, and the sync layer shows them in the status
endpoint, the state database and as Kubernetes Events. A problem names the object and the field
so that a user can find and fix it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A Kubernetes object by kind, namespace ("" for cluster-scoped) and name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind} {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason why (part of) a Kubernetes object is not served, naming the field at fault."""

    obj: ObjectRef
    field: str
    reason: str
    message: str

    def describe(self) -> str:
        return f"{self.obj}: {self.field}: {self.message}"
