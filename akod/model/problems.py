"""What the model says when a Kubernetes object cannot be translated.

Bad input must never stop the daemon or touch unrelated objects: translation functions return
`Problem`s next to whatever they could translate, and the sync layer shows them in the status
endpoint, the state database and as Kubernetes Events. A problem names the object and the field
so that a user can find and fix it.

Bad input is also *big* input sometimes: a 200 KB annotation, a path of 5,000 characters. A
message quotes such a value through `quoted`, which escapes control characters (a NUL must not
reach an Event or a terminal as such) and cuts the value at `QUOTE_LIMIT` characters with an
ellipsis and the full length; a problem's message never exceeds `MESSAGE_LIMIT` characters,
whatever it was built from (the controller's own error text included); and an object has at most
`PROBLEMS_PER_OBJECT` problems stored (`bounded_per_object`), so one object can never make
`/status`, the state database or its Events large.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

QUOTE_LIMIT = 200  # characters of a user's value shown in a message
MESSAGE_LIMIT = 1000  # characters of a problem's message (a Kubernetes Event holds 1 KiB)
ELLIPSIS = "..."


def printable(text: str) -> str:
    """`text` with every non-printable character escaped (`\\x00`, `\\n`, `\\u200b`)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shorten(text: str, *, limit: int) -> str:
    """`text` cut to at most `limit` characters, the cut marked by an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(ELLIPSIS), 0)] + ELLIPSIS


def quoted(value: object, *, limit: int = QUOTE_LIMIT) -> str:
    """`value` as a message quotes it: in single quotes, escaped, cut at `limit` characters.

    A cut value says how long it was: `'aaaa...' (200059 characters)`.
    """
    text = str(value)
    shown = printable(text)
    if len(shown) <= limit:
        return f"'{shown}'"
    return f"'{shorten(shown, limit=limit)}' ({len(text)} characters)"


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
    """One reason why (part of) a Kubernetes object is not served, naming the field at fault.

    `message` is made printable and cut at `MESSAGE_LIMIT` characters when the problem is made.
    """

    obj: ObjectRef
    field: str
    reason: str
    message: str

    def __post_init__(self) -> None:
        bounded = shorten(printable(self.message), limit=MESSAGE_LIMIT)
        if bounded != self.message:
            object.__setattr__(self, "message", bounded)

    def describe(self) -> str:
        return f"{self.obj}: {self.field}: {self.message}"


PROBLEMS_PER_OBJECT = 50  # an Ingress with 10,000 bad paths is one object: it gets 50 rows, not 10,000
MORE_FIELD = "*"


def bounded_per_object(problems: Sequence[Problem], *, limit: int = PROBLEMS_PER_OBJECT) -> list[Problem]:
    """`problems` with at most `limit` per object: the first `limit - 1`, then one that counts the rest."""
    by_object: dict[ObjectRef, list[Problem]] = {}
    for p in problems:
        by_object.setdefault(p.obj, []).append(p)
    out: list[Problem] = []
    for ref, found in by_object.items():
        if len(found) <= limit:
            out += found
            continue
        out += found[: limit - 1]
        rest = found[limit - 1:]
        reasons = ", ".join(sorted({p.reason for p in rest}))
        out.append(Problem(obj=ref, field=MORE_FIELD, reason="MoreProblems",
                           message=f"{len(rest)} more problems of this {ref.kind} ({reasons}) are not listed; "
                                   "fix the ones listed first"))
    return out
