"""Opening a kubernetes-asyncio ApiClient from a kubeconfig file and an optional context.

Precedence as kubectl: the configured path, then $KUBECONFIG, then ~/.kube/config. The kubeconfig
is never written back (`persist_config=False`): under systemd the file sits on a read-only path,
and refreshed tokens have no business on disk.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp.helpers import basicauth_from_netrc, netrc_from_env, proxies_from_env
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import ApiClient

log = logging.getLogger("akod.kube")
# kubernetes-asyncio's read buffer: watch events of large objects exceed aiohttp's default.
READ_BUFSIZE = 2**21


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
    api = await kube_config.new_client_from_config(
        config_file=path, context=context or None, persist_config=False
    )
    _skip_env_lookups_when_empty(api)
    return api


def _skip_env_lookups_when_empty(api: ApiClient) -> None:
    """Turn off aiohttp's per-request proxy and netrc look-ups when the environment has neither.

    kubernetes-asyncio opens its session with `trust_env=True`, so every request to the apiserver
    looks up the proxy environment and ~/.netrc in a thread (two executor hops per call, three
    calls per Service synced). When no proxy variable is set and no netrc entry names the
    apiserver, those look-ups can only find nothing, so the client gets a session without them:
    the same connector (TLS settings, pool size) moved over with `ClientSession.detach()`.
    """
    rest = getattr(api, "rest_client", None)
    session = getattr(rest, "pool_manager", None)
    if rest is None or not isinstance(session, aiohttp.ClientSession) or not session.trust_env:
        return
    host = urlsplit(str(api.configuration.host)).hostname or ""
    if proxies_from_env():
        return
    try:
        basicauth_from_netrc(netrc_from_env(), host)
    except LookupError:
        pass  # no netrc, or no entry for the apiserver
    except Exception as exc:  # noqa: BLE001 - an unreadable netrc: leave aiohttp's behaviour alone
        log.debug("netrc not usable (%s); keeping the per-request look-ups", exc)
        return
    else:
        return  # an entry names the apiserver: let aiohttp keep using it
    connector = session.connector
    if connector is None:
        return
    session.detach()
    rest.pool_manager = aiohttp.ClientSession(connector=connector, trust_env=False, read_bufsize=READ_BUFSIZE)
