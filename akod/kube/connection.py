"""Opening a kubernetes-asyncio ApiClient from a kubeconfig file and an optional context.

Precedence as kubectl: the configured path, then $KUBECONFIG, then ~/.kube/config. The kubeconfig
is never written back (`persist_config=False`): under systemd the file sits on a read-only path,
and refreshed tokens have no business on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import ApiClient


def resolve_kubeconfig(*, configured: str, environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    if configured:
        return configured
    if env.get("KUBECONFIG"):
        return env["KUBECONFIG"].split(os.pathsep)[0]
    return str(Path.home() / ".kube" / "config")


async def open_api_client(*, kubeconfig: str, context: str = "") -> ApiClient:
    path = resolve_kubeconfig(configured=kubeconfig)
    if not Path(path).is_file():
        raise FileNotFoundError(f"kubeconfig {path} does not exist ([cluster] kubeconfig, $KUBECONFIG or ~/.kube/config)")
    return await kube_config.new_client_from_config(
        config_file=path, context=context or None, persist_config=False
    )
