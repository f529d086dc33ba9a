"""`akod status`: ask a running daemon through its status endpoint and print a summary.

Exit 0 when the daemon is ready, 1 when it answers but is not ready, 3 when nothing answers.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from akod.cli.common import CliExit, load_or_exit

DEFAULT_LISTEN = "127.0.0.1:8181"
EXIT_READY, EXIT_NOT_READY, EXIT_NO_DAEMON = 0, 1, 3


def endpoint(listen: str) -> tuple[str, str | None]:
    """(base URL, unix socket path or None) for a `[status] listen` value or a --url."""
    if listen.startswith("unix:"):
        return "http://localhost", listen[len("unix:"):]
    if listen.startswith(("http://", "https://")):
        return listen.rstrip("/"), None
    return f"http://{listen}", None


async def fetch_status(*, base: str, socket_path: str | None, timeout_s: float = 5.0) -> dict[str, Any]:
    connector = aiohttp.UnixConnector(path=socket_path) if socket_path else None
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        async with http.get(f"{base}/status") as resp:
            resp.raise_for_status()
            body: dict[str, Any] = await resp.json()
            return body


def status(*, config_path: Path | None, url: str | None, as_json: bool) -> int:
    listen = url or DEFAULT_LISTEN
    if config_path is not None and url is None:
        try:
            listen = str(load_or_exit(config_path).status.listen)
        except CliExit as exc:
            return exc.code
    base, sock = endpoint(listen)
    try:
        data = asyncio.run(fetch_status(base=base, socket_path=sock))
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        print(f"akod: no daemon answers at {listen}: {exc}")
        return EXIT_NO_DAEMON
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(summary(data))
    return EXIT_READY if data.get("ready") else EXIT_NOT_READY


def _per_s(rate: float) -> str:
    return f"{rate:g} calls/s" if rate else "unlimited"


def summary(data: dict[str, Any]) -> str:
    ctl = data.get("controller", {})
    sync = data.get("sync", {})
    kube = data.get("kubernetes", {})
    lines = [
        f"akod {data.get('version', '?')} for cluster {data.get('cluster', '?')}: "
        f"{'ready' if data.get('ready') else 'NOT READY (' + str(data.get('ready_reason', '')) + ')'}",
        f"  controller  {ctl.get('url', '')} {'connected' if ctl.get('connected') else 'NOT connected'}"
        f" (version {ctl.get('version') or '?'}){'; last error: ' + ctl['last_error'] if ctl.get('last_error') else ''}",
        f"  VRF         {ctl.get('vrf') or '?'} (from {ctl.get('vrf_source') or '?'})",
    ]
    for name, w in sorted((kube.get("watches") or {}).items()):
        lines.append(f"  watch       {name}: {'synced' if w.get('synced') else 'not synced'} "
                     f"at resourceVersion {w.get('resource_version') or '-'}")
    calls = sync.get("api_calls", {})
    lines.append(
        f"  sync        {'in sync' if sync.get('in_sync') else 'not in sync'}; pending {sync.get('pending_ops', 0)}, "
        f"in flight {sync.get('in_flight', 0)}, failed {sync.get('failed_ops', 0)}; last sync {sync.get('last_sync_at') or '-'}"
    )
    lines.append("  api calls   " + ", ".join(f"{m} {n}" for m, n in calls.items()))
    rate = ctl.get("rate") or {}
    if rate:
        lines.append(f"  pace        {_per_s(rate.get('configured', 0))}"
                     + (f", slowed to {_per_s(rate.get('effective', 0))} by 429s" if rate.get("throttled") else "")
                     + f"; {rate.get('throttled_429s', 0)} answered 429 since start")
    lines.append(f"  routes      {sync.get('static_routes', 0)} static routes")
    objects = data.get("objects") or {}
    if objects:
        lines.append("  objects     " + ", ".join(f"{t} {n}" for t, n in sorted(objects.items())))
    errors = data.get("errors") or []
    total = data.get("errors_total", len(errors))
    by_reason = data.get("errors_by_reason") or {}
    counts = ", ".join(f"{reason} {n}" for reason, n in sorted(by_reason.items(), key=lambda kv: -kv[1])[:5])
    lines.append(f"  errors      {total}" + (f" ({counts})" if counts else ""))
    for e in errors[:20]:
        ns = f"{e['namespace']}/" if e.get("namespace") else ""
        lines.append(f"    {e['kind']} {ns}{e['name']}: {e.get('field', '')}: {e['message']} ({e['reason']})")
    return "\n".join(lines)
