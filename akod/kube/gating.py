"""One gate in front of every write akod makes to Kubernetes.

A standby daemon must write nothing to the cluster (no status, no annotation, no Event), and a
leader that lost its lease must stop at once. Rather than trusting every call site to ask, the
daemon's `ApiClient` gets its REST client wrapped: every POST, PUT, PATCH and DELETE asks the gate
first, which raises `KubeWriteRefused` to keep the request from leaving. Reads pass untouched. The
Lease itself is written through a second, ungated client (electing a leader is not a write the
gate may refuse).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes_asyncio.client import ApiClient


class KubeWriteRefused(Exception):
    """This daemon may not write to Kubernetes now (not the leader); nothing was sent."""

    refused_write = True  # the engine requeues such a key quietly


class _GatedRest:
    def __init__(self, inner: Any, gate: Callable[[], None]) -> None:
        self._inner = inner
        self._gate = gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _write(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self._gate()
        return await getattr(self._inner, method)(*args, **kwargs)

    async def POST(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - the client's own names
        return await self._write("POST", *args, **kwargs)

    async def PUT(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        return await self._write("PUT", *args, **kwargs)

    async def PATCH(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        return await self._write("PATCH", *args, **kwargs)

    async def DELETE(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        return await self._write("DELETE", *args, **kwargs)


def gate_writes(api: ApiClient, gate: Callable[[], None]) -> ApiClient:
    """`api`, every write of which first calls `gate` (which raises to refuse it)."""
    api.rest_client = _GatedRest(api.rest_client, gate)
    return api
