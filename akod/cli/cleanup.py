"""`akod cleanup`: delete what this cluster's akod made on the controller (AKO's deleteConfig),
and the VIPs and NodePortLocal opt-ins it wrote into Kubernetes.

Without `--yes` it only shows what would be removed. Stop the daemon first: a running daemon
would put its routes back.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from akod.cli.common import CliExit, avi_client, load_or_exit, read_password_or_exit
from akod.config import Settings

if TYPE_CHECKING:
    from akod.sync.cleanup import CleanupResult


def cleanup(*, config_path: Path, yes: bool) -> int:
    try:
        settings = load_or_exit(config_path)
        password = read_password_or_exit(settings)
    except CliExit as exc:
        return exc.code
    try:
        result = asyncio.run(_cleanup(settings, password, yes))
    except Exception as exc:  # noqa: BLE001
        print(f"akod: cleanup failed: {exc}", file=sys.stderr)
        return 1
    from akod.model.routes import describe_route

    verb = "removed" if yes else "would remove"
    print(f"{'deleted' if yes else 'would delete'} {len(result.objects)} object(s) of cluster {settings.cluster.name}")
    for obj_type, name in result.objects:
        print(f"  {obj_type} {name}")
    print(f"VRF {result.vrf}: {verb} {len(result.routes)} static route(s) of cluster {settings.cluster.name}")
    for route in result.routes:
        print(f"  {describe_route(route)}")
    if result.se_group_label:
        print(f"SE group {settings.controller.se_group}: {verb} the clustername label")
    for name in result.other_se_groups:  # an AviInfraSetting's SE group
        print(f"SE group {name}: {verb} the clustername label")
    if result.kube is not None:
        print(f"Kubernetes: {'cleared' if yes else 'would clear'} the status akod wrote on "
              f"{len(result.kube.statuses)} object(s)")
        for ref in result.kube.statuses:
            print(f"  {ref.kind} {ref.namespace}/{ref.name}")
        if result.kube.opt_ins:
            print(f"Kubernetes: {verb} the NodePortLocal opt-in akod added to {len(result.kube.opt_ins)} Service(s)")
            for ref in result.kube.opt_ins:
                print(f"  Service {ref.namespace}/{ref.name}")
    kube_left = result.kube is not None and bool(result.kube.statuses or result.kube.opt_ins)
    if not yes and (result.routes or result.se_group_label or result.objects or kube_left
                    or result.other_se_groups):
        print("run again with --yes to delete")
    return 0


async def _cleanup(settings: Settings, password: str, apply: bool) -> CleanupResult:
    from akod.store import Store
    from akod.sync.cleanup import cleanup as run_cleanup

    recorded: set[str] = set()
    if Path(settings.state.path).exists():  # the VsVips akod recorded making (read-only)
        store = await Store.open(path=Path(settings.state.path), read_only=True)
        try:
            recorded = await store.recorded_names(obj_type="vsvip")
        finally:
            await store.close()
    from akod.kube import open_api_client

    try:  # a decommissioned cluster is a common reason for a cleanup: the controller is cleaned anyway
        kube = await open_api_client(kubeconfig=str(settings.cluster.kubeconfig or ""),
                                     context=settings.cluster.context)
    except Exception as exc:  # noqa: BLE001
        print(f"akod: Kubernetes not reachable ({exc}): the statuses and NodePortLocal opt-ins akod wrote "
              "are left as they are", file=sys.stderr)
        kube = None
    try:
        async with avi_client(settings, password=password) as client:
            return await run_cleanup(settings=settings, client=client, apply=apply, recorded_vsvips=recorded,
                                     kube_api=kube)
    finally:
        if kube is not None:
            await kube.close()
