"""Showing translation problems where users look: the state database, the log and Events.

The store keeps the current problems (the status endpoint reads them from there); this module
decides what is new, logs it once at warning level and posts one Kubernetes Event for it. An
object with more than 50 problems keeps 49 and one that counts the rest (`bounded_per_object`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable

from akod.kube.status import KubeWriter
from akod.model.problems import Problem, bounded_per_object
from akod.store import Store
from akod.sync.metrics import Telemetry

log = logging.getLogger("akod.sync")


class ProblemReporter:
    def __init__(self, *, store: Store, kube: KubeWriter | None, telemetry: Telemetry) -> None:
        self._store = store
        self._kube = kube
        self._telemetry = telemetry
        self._flagged: set[tuple[str, str, str]] | None = None  # objects with problems, as stored

    async def replace(
        self, *, kind: str, problems: Iterable[Problem], names: Collection[tuple[str, str]] | None = None
    ) -> list[Problem]:
        problems = bounded_per_object(list(problems))
        if self._flagged is None:
            self._flagged = {(p.kind, p.namespace, p.name) for p in await self._store.problems()}
        if not problems and names is not None and not any((kind, ns, n) in self._flagged for ns, n in names):
            return []  # the usual case: nothing was wrong and nothing is
        new = await self._store.replace_problems(kind=kind, problems=problems, names=names)
        # What the store now holds, without reading every problem back (thousands of them at a start).
        if names is None:
            self._flagged = {f for f in self._flagged if f[0] != kind}
        else:
            self._flagged -= {(kind, ns, n) for ns, n in names}
        self._flagged |= {(kind, p.obj.namespace, p.obj.name) for p in problems if p.obj.kind == kind}
        for problem in new:
            log.warning("%s", problem.describe())
            if self._kube is not None:
                observed = await self._store.observed_one(
                    kind=problem.obj.kind, namespace=problem.obj.namespace, name=problem.obj.name
                )
                await self._kube.post_event(
                    obj=problem.obj, uid=observed.uid if observed else "",
                    reason=problem.reason, message=f"{problem.field}: {problem.message}",
                )
        self._telemetry.object_errors.set(len(self._flagged))
        return new
