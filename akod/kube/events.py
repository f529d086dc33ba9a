"""Kubernetes Events for what akod cannot do with an object, so `kubectl describe` shows it.

One Event per new problem (the store tells which problems are new), written into the object's
namespace (cluster-scoped objects such as Nodes: `default`, as the kubelet does). Posting an Event
must never fail the sync: errors are logged and dropped. A message is cut to Kubernetes' 1 KiB
(`MESSAGE_BYTES`, UTF-8) with an ellipsis, never mid-character.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from kubernetes_asyncio.client import ApiClient, CoreV1Api

from akod.model.problems import ObjectRef

log = logging.getLogger("akod.kube")
COMPONENT = "akod"
MESSAGE_BYTES = 1024  # events.k8s.io's limit for a note; core v1 Events are shown the same way
ELLIPSIS = "..."


def event_message(message: str) -> str:
    """`message` in at most `MESSAGE_BYTES` of UTF-8, cut with an ellipsis when longer."""
    data = message.encode()
    if len(data) <= MESSAGE_BYTES:
        return message
    return data[:MESSAGE_BYTES - len(ELLIPSIS)].decode(errors="ignore") + ELLIPSIS


async def post_event(
    *, api: ApiClient, obj: ObjectRef, uid: str = "", reason: str, message: str, warning: bool = True,
    api_version: str = "v1",
) -> None:
    namespace = obj.namespace or "default"
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "metadata": {"name": f"{obj.name}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": {"kind": obj.kind, "name": obj.name, "namespace": obj.namespace, "uid": uid,
                           "apiVersion": api_version},
        "reason": reason,
        "message": event_message(message),
        "type": "Warning" if warning else "Normal",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    try:
        resp = await CoreV1Api(api).create_namespaced_event(namespace, body, _preload_content=False)
        await resp.read()
        resp.release()
    except Exception as exc:  # noqa: BLE001 - an Event is best effort
        log.warning("could not post the Event %s for %s: %s", reason, obj, exc)
