"""NodePortLocal: the Pods' annotation problems, and the Services' opt-in annotation.

The pool servers themselves are the L4 and L7 families' (`akod.model.poolservers`); this family
owns no Avi object. It has two kinds of keys:

- `nplpod:<ns>/<name>`: the problems of one Pod's `nodeportlocal.antrea.io` annotation (garbage
  JSON, a port out of range, a missing field), reported against the Pod and the field, with an
  Event. Only that pod's bad entries are left out of the pools; its other entries and every other
  pod still serve. Cleared when the annotation is fixed or the Pod goes.
- `nplsvc:<ns>/<name>`: the opt-in `nodeportlocal.antrea.io/enabled: "true"` on one Service, so that
  antrea-agent maps its pods. As AKO does (unless `AUTO_ANNOTATE_SERVICE=false`; here `[l7]
  npl_auto_annotate`), akod adds it to every LoadBalancer Service it serves and to every backend
  Service (not of type NodePort) of an Ingress it serves, and removes it when the Service is no
  longer served. Unlike AKO, akod removes only what it added: it writes the marker
  `ako.vmware.com/npl-annotated-by: <cluster>` with the opt-in, and a Service whose opt-in was
  set by someone else keeps it whatever happens. The marker also makes the removal survive a
  restart and work from either daemon of an HA pair. Leaving NodePortLocal mode (or turning the
  option off) removes akod's opt-ins; AKO leaves them.

Writes go through the gated `KubeWriter` (a merge patch of the two annotations only), so a
standby writes nothing: its keys are requeued until it leads. The patch is skipped when the
Service already shows what would be written, so a restart writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from akod.avi import AviClient
from akod.model.l4 import l4_key
from akod.model.l7 import L7Context, ingress_accepted
from akod.model.npl import NPL_ENABLED_ANNOTATION, pod_ref, read_npl
from akod.model.problems import ObjectRef, Problem
from akod.store import Applied
from akod.sync.cluster import Change
from akod.sync.contexts import Contexts
from akod.sync.families.l7index import backends_of
from akod.sync.family import DONE, Inputs, Outcome, PlannedChange, SyncIO, Translation, hold
from akod.sync.suspects import Ident as AviIdent
from akod.sync.suspects import Suspect
from akod.sync.writeback import refused

log = logging.getLogger("akod.sync")
POD_KIND, SVC_KIND = "nplpod", "nplsvc"
MARKER_ANNOTATION = "ako.vmware.com/npl-annotated-by"
NODE_PORT_LOCAL = "NodePortLocal"
Ident = tuple[str, str]


def _ident_of(key: str) -> Ident:
    ns, _, name = key.split(":", 1)[1].partition("/")
    return ns, name


class NplFamily:
    name = "npl"
    key_kinds = frozenset({POD_KIND, SVC_KIND})
    resources: tuple[str, ...] = ("pods",)  # the instance narrows this to () outside NodePortLocal mode
    subject_kind = "Pod"
    own_journal = False

    def __init__(self, *, inputs: Inputs, contexts: Contexts, io: SyncIO | None) -> None:
        self._in = inputs
        self._contexts = contexts
        self._io = io
        self.resources = ("pods",) if self._mode() else ()
        self._bad: dict[Ident, tuple[Problem, ...]] = {}  # pods with annotation problems
        self._backends: dict[Ident, set[Ident]] = {}  # an Ingress akod serves -> its backend Services
        self._users: dict[Ident, set[Ident]] = {}  # the reverse: a Service -> the served Ingresses using it

    def _mode(self) -> bool:
        return self._in.settings.l7.service_type == NODE_PORT_LOCAL

    def _ctx(self) -> L7Context:
        i = self._in
        return self._contexts.l7(settings=i.settings, controller=i.controller, controller_version=i.controller_version,
                                 ingress_classes="ingressclasses" not in i.unserved)

    # -- what each Service should show -----------------------------------------------------------

    def _served(self, ident: Ident, body: Mapping[str, Any], ctx: L7Context) -> bool:
        labels = self._in.cluster.namespace_labels.get(ident[0])
        if l4_key(service=body, namespace_labels=labels, ctx=ctx.l4) is not None:
            return True
        if body.get("type") == "NodePort":
            return False  # AKO: Ingress backends must be ClusterIP Services in NodePortLocal mode
        return bool(self._users.get(ident))

    def _patch_for(self, ident: Ident, ctx: L7Context | None = None) -> dict[str, str | None] | None:
        """The annotations to write on the Service (None: it already shows what it should)."""
        body = self._in.cluster.services.get(ident)
        if body is None:
            return None
        settings = self._in.settings
        cluster = settings.cluster.name
        enabled = str(body.get("npl_enabled") or "").strip().lower() == "true"
        ours = body.get("npl_marker") == cluster
        wanted = self._annotating() and self._served(ident, body, ctx or self._ctx())
        if wanted and not enabled:
            return {NPL_ENABLED_ANNOTATION: "true", MARKER_ANNOTATION: cluster}
        if not wanted and ours:
            return {NPL_ENABLED_ANNOTATION: None, MARKER_ANNOTATION: None} if enabled else {MARKER_ANNOTATION: None}
        return None

    def _services_to_check(self, idents: Iterable[Ident]) -> set[str]:
        ctx = self._ctx()
        return {f"{SVC_KIND}:{ns}/{name}" for ns, name in idents if self._patch_for((ns, name), ctx) is not None}

    def _annotating(self) -> bool:
        return self._mode() and self._in.settings.l7.npl_auto_annotate

    def _ingresses_changed(self, idents: Iterable[Ident]) -> set[Ident]:
        """Re-read which Services these Ingresses use; the Services whose use may have changed.

        Only while akod annotates: otherwise no Service is wanted and nothing needs to be known.
        """
        ctx = self._ctx()
        touched: set[Ident] = set()
        annotating = self._annotating()
        for ing in idents:
            for svc in self._backends.pop(ing, set()):
                touched.add(svc)
                users = self._users[svc]
                users.discard(ing)
                if not users:
                    del self._users[svc]
            body = self._in.cluster.ingresses.get(ing)
            if body is None or not annotating:
                continue
            labels = self._in.cluster.namespace_labels.get(ing[0])
            if ingress_accepted(ingress=body, classes=self._in.cluster.classes, namespace_labels=labels, ctx=ctx):
                self._backends[ing] = backends_of(body)
                touched |= self._backends[ing]
                for svc in self._backends[ing]:
                    self._users.setdefault(svc, set()).add(ing)
        return touched

    # -- keys ------------------------------------------------------------------------------------

    def _pods_changed(self, change: Change) -> set[str]:
        keys: set[str] = set()
        for ident in change.idents():
            body = self._in.cluster.pods.get(ident)
            problems = read_npl(body)[1] if body is not None else ()
            if problems != self._bad.get(ident, ()):
                keys.add(f"{POD_KIND}:{ident[0]}/{ident[1]}")
            if problems:
                self._bad[ident] = problems
            else:
                self._bad.pop(ident, None)
        return keys

    async def on_change(self, change: Change) -> set[str]:
        kind = change.kind
        if kind == "Pod":
            return self._pods_changed(change)
        if kind == "Service":
            return self._services_to_check(change.idents())
        if kind == "Ingress":
            return self._services_to_check(self._ingresses_changed(change.idents()))
        if kind in ("Namespace", "IngressClass"):
            self._ingresses_changed(list(self._in.cluster.ingresses))
            return self._services_to_check(list(self._in.cluster.services))
        return set()

    def wanted_keys(self) -> set[str]:
        self._ingresses_changed(list(self._in.cluster.ingresses))
        pods = {f"{POD_KIND}:{ns}/{name}" for ns, name in self._bad}
        return pods | self._services_to_check(list(self._in.cluster.services))

    def reassign(self) -> set[str]:
        return self.wanted_keys()

    def adopts(self, applied: Applied) -> str | None:
        return None

    def summary(self) -> dict[str, Any]:
        if not self._mode():
            return {}
        return {"npl_pods": sum(1 for p in self._in.cluster.pods.values() if p.get("npl") is not None),
                "npl_pods_with_errors": len(self._bad)}

    def applied_rebuilt(self, *, inventory: Sequence[Applied]) -> None:
        return None

    def drifted(self, key: str, found: Mapping[AviIdent, Suspect]) -> None:
        return None

    # -- one key ---------------------------------------------------------------------------------

    async def translate(self, key: str) -> Translation:
        ident = _ident_of(key)
        if key.startswith(f"{POD_KIND}:"):
            ref = ObjectRef(kind="Pod", namespace=ident[0], name=ident[1])
            return Translation(key=key, problems=self._bad.get(ident, ()), scope=frozenset({ref}))
        return Translation(key=key, detail=self._patch_for(ident))

    async def sync(self, key: str) -> Outcome:
        io = self._io
        assert io is not None, "sync runs in the daemon only"
        ident = _ident_of(key)
        if key.startswith(f"{POD_KIND}:"):
            await io.reporter.replace(kind="Pod", problems=self._bad.get(ident, ()), names={ident})
            return DONE
        patch = self._patch_for(ident)
        if patch is None or io.kube is None:
            return DONE
        ref = ObjectRef(kind="Service", namespace=ident[0], name=ident[1])
        try:
            await io.kube.patch_annotations(obj=ref, annotations=patch)
        except ApiException as exc:
            if exc.status == 404:
                return DONE  # gone: nothing to annotate
            if refused(exc):
                log.warning("Kubernetes refused the NodePortLocal annotation of Service %s/%s: %s %s",
                            ident[0], ident[1], exc.status, exc.reason)
                return hold(f"Kubernetes refused the NodePortLocal annotation ({exc.status})")
            raise
        action = "added" if patch.get(NPL_ENABLED_ANNOTATION) else "removed"
        log.info("NodePortLocal opt-in %s on Service %s/%s", action, ident[0], ident[1])
        return DONE

    # -- plan and /objects -------------------------------------------------------------------------

    async def plan(self, translation: Translation, *, have: Mapping[tuple[str, str], Applied],
                   client: AviClient) -> list[PlannedChange]:
        return []  # nothing on the controller; the annotation is a Kubernetes write `akod plan` never makes

    async def describe(self, ref: ObjectRef) -> dict[str, Any] | None:
        if ref.kind != "Pod":
            return None
        body = self._in.cluster.pods.get((ref.namespace, ref.name))
        if body is None or body.get("npl") is None:
            return None  # a pod antrea-agent has not mapped is nothing to akod
        entries, problems = read_npl(body)
        return {"key": f"{POD_KIND}:{ref.namespace}/{ref.name}", "ready": body.get("ready") is not False,
                "node_port_local": [{"pod_port": e.pod_port, "node_ip": str(e.node_ip), "node_port": e.node_port}
                                    for e in entries],
                "errors": [{"field": p.field, "reason": p.reason, "message": p.message} for p in problems],
                "services": sorted(f"{ns}/{n}" for ns, n in self._in.cluster.selectors.services_selecting(
                    namespace=ref.namespace, labels=body.get("labels") or {}))}


__all__ = ["NplFamily", "pod_ref"]
