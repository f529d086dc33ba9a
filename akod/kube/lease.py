"""The `coordination.k8s.io/v1` Lease two akod daemons for one cluster agree on who writes with.

Only three calls, as client-go's `leaderelection` makes them and as AKO's RBAC allows (leases:
get, create, update): read the Lease, create it, or replace it carrying the resourceVersion just
read, so that of two daemons writing at once exactly one succeeds (the other gets 409 Conflict,
raised here as `LeaseConflict`). Times are RFC 3339 MicroTime strings in UTC, as Kubernetes
stores them; who holds the Lease and until when is decided by the caller (`akod.daemon`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client import ApiClient, CoordinationV1Api
from kubernetes_asyncio.client.exceptions import ApiException


class LeaseConflict(Exception):
    """Someone else created or changed the Lease since it was read."""


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    holder: str
    duration_s: int
    acquired: str
    renewed: str
    transitions: int
    resource_version: str = ""


def micro_time(moment: dt.datetime | None = None) -> str:
    return (moment or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return micro_time(value.astimezone(dt.timezone.utc))
    return str(value or "")


def _record(lease: Any) -> LeaseRecord:
    spec = lease.spec
    return LeaseRecord(holder=str(spec.holder_identity or ""), duration_s=int(spec.lease_duration_seconds or 0),
                       acquired=_text(spec.acquire_time), renewed=_text(spec.renew_time),
                       transitions=int(spec.lease_transitions or 0),
                       resource_version=str(lease.metadata.resource_version or ""))


def _body(*, namespace: str, name: str, record: LeaseRecord) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if record.resource_version:
        metadata["resourceVersion"] = record.resource_version
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
            "spec": {"holderIdentity": record.holder, "leaseDurationSeconds": record.duration_s,
                     "acquireTime": record.acquired, "renewTime": record.renewed,
                     "leaseTransitions": record.transitions}}


async def read_lease(api: ApiClient, *, namespace: str, name: str) -> LeaseRecord | None:
    try:
        lease = await CoordinationV1Api(api).read_namespaced_lease(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return _record(lease)


async def write_lease(api: ApiClient, *, namespace: str, name: str, record: LeaseRecord) -> LeaseRecord:
    """Create the Lease (no resourceVersion in `record`) or replace it (with the one read)."""
    coordination = CoordinationV1Api(api)
    body = _body(namespace=namespace, name=name, record=record)
    try:
        if record.resource_version:
            lease = await coordination.replace_namespaced_lease(name, namespace, body)
        else:
            lease = await coordination.create_namespaced_lease(namespace, body)
    except ApiException as exc:
        if exc.status == 409:
            raise LeaseConflict(f"Lease {namespace}/{name} changed meanwhile") from exc
        raise
    return _record(lease)
