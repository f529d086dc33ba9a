"""The middle of every owned-object family's sync: translation in, objects applied, an outcome out.

Owned-object families sync a key the same way once it is translated: a held translation (bad
input, nothing left to serve) changes nothing on the controller; otherwise the objects are applied
(ordered, journaled, idempotent: `OwnedSync.apply`), and what the controller refuses becomes a
problem on the Kubernetes objects it was made for and a requeue with backoff, while a controller
that does not answer is a requeue too. What differs between families, who the problems belong to
and what is written back to Kubernetes, stays in the family. L4 uses `apply_translation` whole;
L7 first tries to leave out the Ingress paths the controller refuses (`families.l7isolation`) and
uses `rejection_problems` for what is left.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from akod.avi import AviError
from akod.model.objects import AviObject
from akod.model.problems import ObjectRef, Problem
from akod.store import Applied
from akod.sync.family import DONE, Outcome, SyncIO, Translation, hold, requeue
from akod.sync.owned import Ident, ObjectRejected

log = logging.getLogger("akod.sync")
Report = Callable[[Sequence[Problem]], Awaitable[None]]


def rejection_problems(*, exc: ObjectRejected, scope: Sequence[ObjectRef], field: str) -> list[Problem]:
    """The controller refused `exc.obj`: a problem on each Kubernetes object it was made for."""
    subjects = exc.obj.subjects or tuple(scope)
    reason = "IPAMExhausted" if "No available free IPs" in exc.error.message else "ControllerRejected"
    return [Problem(obj=ref, field=field, reason=reason,
                    message=f"the controller refused {exc.obj.obj_type} {exc.obj.name}: {exc.error.message}")
            for ref in subjects]


async def apply_translation(*, io: SyncIO, translation: Translation, report: Report,
                            field_of: Callable[[AviObject], str]) -> tuple[Outcome, dict[Ident, Applied]]:
    """Make the controller hold `translation.objects` for its key; report problems; say how it ended."""
    if translation.hold:
        await report(translation.problems)
        return hold("the input leaves nothing to serve; what is applied stays until it is fixed"), {}
    try:
        applied = await io.owned.apply(key=translation.key, objects=translation.objects)
    except ObjectRejected as exc:
        scope = sorted(translation.scope, key=lambda r: (r.namespace, r.name))
        await report([*translation.problems, *rejection_problems(exc=exc, scope=scope, field=field_of(exc.obj))])
        return requeue(reason=str(exc)), {}
    except AviError as exc:
        await report(translation.problems)
        return requeue(reason=f"{type(exc).__name__}: {exc}"), {}
    await report(translation.problems)
    return DONE, applied
