"""Which Services select which pods, without scanning every Service on a pod event (NodePortLocal).

AKO's `GetServicesForPod` lists every Service of the cluster for each pod event; with thousands of
pods restarting that is pods x Services. Here each Service is filed under one pair of its
selector (the smallest `key=value`: a pod it selects must carry that pair), and each pod that
carries the NodePortLocal annotation under every one of its labels. A pod event then looks up
its few labels and checks only the Services filed there; a Service's pods are the pods filed
under the selector pair holding the fewest, checked against the whole selector.

Only pods with the annotation are indexed: a pod antrea-agent has not mapped yields no server.
The cluster cache keeps the index in step (`ClusterCache.apply`), before any family reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from akod.model.npl import selects

Ident = tuple[str, str]
Pair = tuple[str, str, str]  # (namespace, label key, label value)


def _selector(body: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (body.get("selector") or {}).items()}


def _labels(body: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (body.get("labels") or {}).items()}


class SelectorIndex:
    """Services by one selector pair, annotated pods by each label pair."""

    def __init__(self) -> None:
        self._services: dict[Pair, set[Ident]] = {}
        self._filed: dict[Ident, Pair] = {}
        self._selector: dict[Ident, dict[str, str]] = {}
        self._pods: dict[Pair, set[Ident]] = {}
        self._pod_labels: dict[Ident, dict[str, str]] = {}

    # -- upkeep (the cluster cache calls these) -------------------------------------------------

    def put_service(self, ident: Ident, body: Mapping[str, Any]) -> None:
        self.drop_service(ident)
        selector = _selector(body)
        if not selector:
            return  # a Service without a selector has no pods (its endpoints are managed by hand)
        pair = (ident[0], *min(selector.items()))
        self._services.setdefault(pair, set()).add(ident)
        self._filed[ident] = pair
        self._selector[ident] = selector

    def drop_service(self, ident: Ident) -> None:
        pair = self._filed.pop(ident, None)
        self._selector.pop(ident, None)
        if pair is not None:
            group = self._services[pair]
            group.discard(ident)
            if not group:
                del self._services[pair]

    def put_pod(self, ident: Ident, body: Mapping[str, Any]) -> None:
        self.drop_pod(ident)
        if body.get("npl") is None:
            return
        labels = _labels(body)
        self._pod_labels[ident] = labels
        for key, value in labels.items():
            self._pods.setdefault((ident[0], key, value), set()).add(ident)

    def drop_pod(self, ident: Ident) -> None:
        labels = self._pod_labels.pop(ident, None)
        for key, value in (labels or {}).items():
            group = self._pods[(ident[0], key, value)]
            group.discard(ident)
            if not group:
                del self._pods[(ident[0], key, value)]

    # -- reads ----------------------------------------------------------------------------------

    def services_selecting(self, *, namespace: str, labels: Mapping[str, Any]) -> set[Ident]:
        """The Services whose selector matches a pod with these labels in `namespace`."""
        found: set[Ident] = set()
        text = {str(k): str(v) for k, v in labels.items()}
        for key, value in text.items():
            for ident in self._services.get((namespace, key, value), ()):
                if selects(self._selector[ident], text):
                    found.add(ident)
        return found

    def pods_of(self, service: Ident) -> list[Ident]:
        """The annotated pods the Service selects, sorted."""
        selector = self._selector.get(service)
        if not selector:
            return []
        groups = [self._pods.get((service[0], k, v), set()) for k, v in selector.items()]
        smallest = min(groups, key=len)
        return sorted(p for p in smallest if selects(selector, self._pod_labels[p]))
