"""What every AKO custom resource has in common, as pure values: who it is, its verdict, its Avi refs.

AKO's CRDs (HostRule, HTTPRule, L4Rule, AviInfraSetting) all end the same way: `status.status`
is `Accepted` or `Rejected` with `status.error` naming the field at fault, a CR is rejected when a
field is invalid or an Avi object it names does not exist on the controller, and the oldest of two
CRs claiming one thing wins. The per-CRD models (`hostrule`, and the ones after it) parse a spec
into an effect plus a `Verdict`; the sync layer checks the `refs` on the controller and writes the
status. What is decided here stays pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from akod.model.problems import ObjectRef, Problem, quoted

ACCEPTED = "Accepted"
REJECTED = "Rejected"


@dataclass(frozen=True, slots=True)
class AviRef:
    """An Avi object a CR names: the field that names it, the object's type and name."""

    field: str  # `spec.virtualhost.wafPolicy`
    obj_type: str  # `wafpolicy`
    name: str


@dataclass(frozen=True)
class Verdict:
    """The pure part of a CR's validation.

    `problems` reject the CR; `refs` must exist on the controller for it to be accepted;
    `unsupported` names each field it uses that akod does not apply (accepted, with a warning).
    """

    problems: tuple[Problem, ...] = ()
    refs: tuple[AviRef, ...] = ()
    unsupported: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())  # fields used where they cannot apply (warned too)

    @property
    def valid(self) -> bool:
        return not self.problems


def cr_ref(kind: str, body: Mapping[str, Any]) -> ObjectRef:
    return ObjectRef(kind=kind, namespace=str(body.get("namespace", "")), name=str(body.get("name", "")))


def cr_age(body: Mapping[str, Any]) -> tuple[str, str, str]:
    """Oldest first: creation time, then namespace and name (stable across restarts)."""
    return (str(body.get("created") or "~"), str(body.get("namespace", "")), str(body.get("name", "")))


def missing_ref(*, obj: ObjectRef, ref: AviRef, model: str) -> Problem:
    """The CR names an Avi object the controller does not have."""
    return Problem(obj=obj, field=ref.field, reason="AviObjectMissing",
                   message=f"{model} {quoted(ref.name)} does not exist on the controller")


def status_of(problems: Sequence[Problem], *, kept: bool = False) -> dict[str, str]:
    """The `status` akod writes: Accepted with no error, or Rejected with the first problem.

    `kept`: the CR was accepted before; its last accepted spec stays applied, and the error says so.
    """
    if not problems:
        return {"status": ACCEPTED, "error": ""}
    first = problems[0]
    error = f"{first.field}: {first.message}"
    if len(problems) > 1:
        error += f" (and {len(problems) - 1} more)"
    if kept:
        error += "; the last accepted spec stays applied"
    return {"status": REJECTED, "error": error}


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""
