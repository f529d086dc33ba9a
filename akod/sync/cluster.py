"""The cluster cache: the daemon's one in-memory view of the watched Kubernetes objects.

Every family reads the cluster through this object and none keeps a copy of its own: the routes
read Nodes, L4 reads Services, endpoints, Nodes and Namespaces, L7 reads all of those plus
Ingresses, IngressClasses and TLS Secrets; in NodePortLocal mode both read Pods, through the
selector index kept here. The watches (through `Registry.on_change`) are its only
writer, so a family never sees a Service that another family has not seen yet, and the store
keeps the durable copy the cache is loaded from at start.

Bodies are the trimmed ones of `akod.kube.trimming`, never changed in place: a new event replaces
a body, so families may keep references to them. A TLS Secret's PEM rides in `Observed.material`
and lives here only, never in the store.

`akod plan` fills a cache of its own from one list of each resource, so the daemon and the dry
run read the same shape through the same code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from akod.model.observed import Observed
from akod.sync.podindex import SelectorIndex

Ident = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
Body = dict[str, Any]

# The stored kinds the cache keeps, and how endpoints are keyed (by the Service they belong to).
ENDPOINT_KINDS = frozenset({"Endpoints", "EndpointSlice"})


@dataclass(frozen=True, slots=True)
class Change:
    """One watch batch (or relist) of one resource, as the families see it after the cache took it."""

    resource: str
    kind: str
    upserts: Sequence[Observed]
    deleted: Sequence[Observed]
    # What the cache held for each identity before this change (None: nothing); filled by `apply`.
    before: Mapping[Ident, Any] = field(default_factory=dict)

    def idents(self) -> set[Ident]:
        return {(o.namespace, o.name) for o in (*self.upserts, *self.deleted)}


@dataclass
class ClusterCache:
    """Nodes, Namespaces, Services, endpoints, Ingresses, classes and TLS Secrets, by identity."""

    nodes: dict[str, Body] = field(default_factory=dict)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    # Namespace -> the AviInfraSetting its annotation names (only those that name one).
    namespace_infra: dict[str, str] = field(default_factory=dict)
    services: dict[Ident, Body] = field(default_factory=dict)
    endpoints: dict[Ident, dict[str, Body]] = field(default_factory=dict)  # Service -> object name -> body
    ingresses: dict[Ident, Body] = field(default_factory=dict)
    classes: dict[str, Body] = field(default_factory=dict)
    secrets: dict[Ident, Observed] = field(default_factory=dict)
    # Kinds a family added beyond the ones above (a CRD, say): kind -> identity -> body.
    other: dict[str, dict[Ident, Body]] = field(default_factory=dict)
    # Pods (NodePortLocal mode only) and which Services select them (`podindex.py`).
    pods: dict[Ident, Body] = field(default_factory=dict)
    selectors: SelectorIndex = field(default_factory=SelectorIndex)

    def apply(self, change: Change) -> Change:
        """Take `change`; return it with `before` telling what each identity held until now."""
        before = {ident: self._get(change.kind, ident) for ident in change.idents()}
        for obj in change.deleted:
            self._drop(obj)
        for obj in change.upserts:
            self._put(obj)
        return dataclasses.replace(change, before=before)

    def load(self, objects: Iterable[Observed]) -> None:
        for obj in objects:
            self._put(obj)

    # -- reads the translations make ---------------------------------------------------------------

    def node_bodies(self) -> list[Body]:
        return [self.nodes[name] for name in sorted(self.nodes)]

    def endpoints_of(self, service: Ident) -> list[Body]:
        found = self.endpoints.get(service) or {}
        return [found[name] for name in sorted(found)]

    def secret_bodies(self) -> Mapping[Ident, Observed]:
        return self.secrets

    def services_of_pods(self, change: Change) -> set[Ident]:
        """The Services that select the pods of `change`, as they were before it or are now.

        A pod without the NodePortLocal annotation, then and now, serves nothing: it wakes no Service.
        """
        found: set[Ident] = set()
        for ident in change.idents():
            for body in (change.before.get(ident), self.pods.get(ident)):
                if body and body.get("npl") is not None:
                    found |= self.selectors.services_selecting(namespace=ident[0], labels=body.get("labels") or {})
        return found

    def pods_of(self, service: Ident) -> list[Body]:
        """The pods with a NodePortLocal annotation the Service selects, sorted by name."""
        return [self.pods[p] for p in self.selectors.pods_of(service) if p in self.pods]

    # -- the one writer ---------------------------------------------------------------------------

    def _get(self, kind: str, ident: Ident) -> Any:
        namespace, name = ident
        if kind == "Node":
            return self.nodes.get(name)
        if kind == "Namespace":
            return self.namespace_labels.get(name)
        if kind == "Service":
            return self.services.get(ident)
        if kind in ENDPOINT_KINDS:
            return None  # keyed by Service, not by the object's own name: nobody needs the old one
        if kind == "Ingress":
            return self.ingresses.get(ident)
        if kind == "IngressClass":
            return self.classes.get(name)
        if kind == "Secret":
            return self.secrets.get(ident)
        if kind == "Pod":
            return self.pods.get(ident)
        return self.other.get(kind, {}).get(ident)

    def _put(self, obj: Observed) -> None:
        ident = (obj.namespace, obj.name)
        kind = obj.kind
        if kind == "Node":
            self.nodes[obj.name] = obj.body
        elif kind == "Namespace":
            self.namespace_labels[obj.name] = dict(obj.body.get("labels") or {})
            if obj.body.get("infra_setting"):
                self.namespace_infra[obj.name] = str(obj.body["infra_setting"])
            else:
                self.namespace_infra.pop(obj.name, None)
        elif kind == "Service":
            self.services[ident] = obj.body
            self.selectors.put_service(ident, obj.body)
        elif kind == "Pod":
            self.pods[ident] = obj.body
            self.selectors.put_pod(ident, obj.body)
        elif kind in ENDPOINT_KINDS:
            self.endpoints.setdefault(_service_of(obj), {})[obj.name] = obj.body
        elif kind == "Ingress":
            self.ingresses[ident] = obj.body
        elif kind == "IngressClass":
            self.classes[obj.name] = obj.body
        elif kind == "Secret":
            self.secrets[ident] = obj
        else:
            self.other.setdefault(kind, {})[ident] = obj.body

    def _drop(self, obj: Observed) -> None:
        ident = (obj.namespace, obj.name)
        kind = obj.kind
        if kind == "Node":
            self.nodes.pop(obj.name, None)
        elif kind == "Namespace":
            self.namespace_labels.pop(obj.name, None)
            self.namespace_infra.pop(obj.name, None)
        elif kind == "Service":
            self.services.pop(ident, None)
            self.selectors.drop_service(ident)
        elif kind == "Pod":
            self.pods.pop(ident, None)
            self.selectors.drop_pod(ident)
        elif kind in ENDPOINT_KINDS:
            service = _service_of(obj)
            found = self.endpoints.get(service)
            if found is not None:
                found.pop(obj.name, None)
                if not found:
                    del self.endpoints[service]
        elif kind == "Ingress":
            self.ingresses.pop(ident, None)
        elif kind == "IngressClass":
            self.classes.pop(obj.name, None)
        elif kind == "Secret":
            self.secrets.pop(ident, None)
        else:
            self.other.get(kind, {}).pop(ident, None)


def _service_of(obj: Observed) -> Ident:
    """The Service an Endpoints object or an EndpointSlice belongs to."""
    return (obj.namespace, str(obj.body.get("service", "")))
