"""`akod check`: is the config valid (exit 2 if not), and does the other side match it (exit 3 if not)?

Online, it also runs the daemon's API discovery and prints which API each watched resource comes
from (`ingresses: networking.k8s.io/v1beta1/ingresses` on Kubernetes 1.18). A resource the cluster
serves in no version akod knows is a warning, not a failure: the daemon runs without it (no
IngressClass API on old clusters) and reports it the same way (`/status` `kubernetes.missing`).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from akod.cli.common import CliExit, avi_client, load_or_exit, read_password_or_exit
from akod.config import Settings

EXIT_OTHER_SIDE = 3


def check(*, config_path: Path, offline: bool) -> int:
    try:
        settings = load_or_exit(config_path)
        print(f"{config_path}: configuration is valid (cluster {settings.cluster.name}, "
              f"controller {settings.controller.base_url})")
        if offline:
            return 0
        password = read_password_or_exit(settings)
    except CliExit as exc:
        return exc.code
    problems, missing = asyncio.run(_online(settings, password))
    for name, why in sorted(missing.items()):
        print(f"akod: warning: {name}: {why}; akod does not watch them", file=sys.stderr)
    for line in problems:
        print(f"akod: {line}", file=sys.stderr)
    if problems:
        return EXIT_OTHER_SIDE
    unserved = f"; not served by the cluster: {', '.join(sorted(missing))}" if missing else ""
    print(f"cluster and controller reachable; cloud, SE group, VIP network and VRF found{unserved}")
    return 0


async def _online(settings: Settings, password: str) -> tuple[list[str], dict[str, str]]:
    """The problems found on either side, and the watched resources the cluster does not serve."""
    from akod.kube import open_api_client
    from akod.kube.resources import resolve
    from akod.sync.discovery import ControllerMismatch, se_group_owner, discover, routes_enabled
    from akod.sync.registry import watched_resources

    problems: list[str] = []
    missing: dict[str, str] = {}
    try:
        kube = await open_api_client(kubeconfig=str(settings.cluster.kubeconfig or ""), context=settings.cluster.context)
        try:
            from kubernetes_asyncio.client import CoreV1Api

            await CoreV1Api(kube).list_node(limit=1)
            resolution = await resolve(kube, watched_resources())
            for name, variant in resolution.chosen.items():
                print(f"kubernetes: {name} from {variant.api}")
            missing = dict(resolution.missing)
        finally:
            await kube.close()
    except Exception as exc:  # noqa: BLE001 - report, whatever it is
        problems.append(f"[cluster] kubeconfig: the Kubernetes API is not usable: {exc}")
    try:
        async with avi_client(settings, password=password) as client:
            ctx = await discover(client=client, settings=settings, label_se_group=False)
            print(f"VRF {ctx.vrf} (from {ctx.vrf_source})")
            if routes_enabled(settings):
                seg = await client.get(f"/api/serviceenginegroup/{ctx.se_group_uuid}", tenant="admin")
                owner = se_group_owner(seg)
                if owner not in (None, settings.cluster.name):
                    problems.append(f"[controller] se_group: SE group '{settings.controller.se_group}' is labelled "
                                    f"clustername={owner}, another cluster's")
    except ControllerMismatch as exc:
        problems.append(str(exc))
    except Exception as exc:  # noqa: BLE001
        problems.append(f"[controller] host: the controller is not usable: {exc}")
    return problems, missing
