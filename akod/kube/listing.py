"""Listing and watching any resource by its API path, and asking the server which resources it serves.

kubernetes-asyncio generates one method per resource and version (`CoreV1Api.list_node`,
`NetworkingV1Api.list_ingress_for_all_namespaces`...), but versions come and go with the server:
a 1.18 cluster serves Ingress only as `networking.k8s.io/v1beta1`, a cluster with Calico serves
`crd.projectcalico.org/v1`. So akod lists through the client's one public entry point,
`ApiClient.call_api`, with the resource's path: auth, TLS and retries stay the client's, and the
answer is read raw (`_preload_content=False`: no model deserialisation, which dominated the cost
of a watch event). A raw answer is not checked by the client, so every one is checked here: a
404 for a resource the server does not serve must never read as an empty list.
`served_resources` is API discovery for one group/version: the plural names the server serves
there, or None when it does not serve the group/version at all (404).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

ListFn = Callable[..., Awaitable[Any]]
# The list/watch parameters akod uses, as the generated methods name them -> the query names.
QUERY_NAMES = {"watch": "watch", "resource_version": "resourceVersion", "timeout_seconds": "timeoutSeconds",
               "allow_watch_bookmarks": "allowWatchBookmarks", "field_selector": "fieldSelector",
               "label_selector": "labelSelector", "limit": "limit", "_continue": "continue"}
ACCEPT = "application/json, application/json;stream=watch"


def api_root(group_version: str) -> str:
    """`/api/v1` for the core group, `/apis/<group>/<version>` for the others."""
    return "/api/v1" if group_version == "v1" else f"/apis/{group_version}"


def lister(api: ApiClient, *, group_version: str, plural: str) -> ListFn:
    """A list/watch function for `plural` across all namespaces, shaped like the generated ones."""
    path = f"{api_root(group_version)}/{plural}"

    async def list_fn(**kwargs: Any) -> Any:
        query = []
        for name, value in kwargs.items():
            if name.startswith("_") and name != "_continue":
                continue
            if name not in QUERY_NAMES:
                raise TypeError(f"unexpected list parameter {name}")
            if value is not None:
                query.append((QUERY_NAMES[name], str(value).lower() if isinstance(value, bool) else value))
        resp = await api.call_api(
            path, "GET", {}, query, {"Accept": ACCEPT}, auth_settings=["BearerToken"], response_types_map={},
            _preload_content=False, _request_timeout=kwargs.get("_request_timeout"), _return_http_data_only=True)
        return await checked(resp, what=path)

    return list_fn


async def checked(resp: Any, *, what: str) -> Any:
    """`resp` when its status is 2xx; else an ApiException with the server's message (resp released)."""
    status = int(getattr(resp, "status", 200))
    if 200 <= status < 300:
        return resp
    try:
        text = (await resp.read()).decode("utf-8", errors="replace")
    finally:
        resp.release()
    try:
        message = str(json.loads(text).get("message") or text)
    except (ValueError, AttributeError):
        message = text
    raise ApiException(status=status, reason=f"{what}: {message[:500]}")


async def served_resources(api: ApiClient, *, group_version: str) -> set[str] | None:
    """The resources (plural names) the server serves in `group_version`; None if it serves none."""
    try:
        resp = await checked(await api.call_api(
            api_root(group_version), "GET", {}, [], {"Accept": "application/json"}, auth_settings=["BearerToken"],
            response_types_map={}, _preload_content=False, _return_http_data_only=True), what=group_version)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    data = json.loads(await resp.read())
    resp.release()
    return {str(r.get("name")) for r in data.get("resources") or [] if "/" not in str(r.get("name", ""))}
