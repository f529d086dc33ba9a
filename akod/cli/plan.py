"""`akod plan`: what akod would change on the controller, read from the cluster and the controller.

Exit 0 when there is nothing to do, 10 when changes are pending, another non-zero code on error.
Nothing is written anywhere (not even the state database).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from akod.cli.common import CliExit, avi_client, load_or_exit, read_password_or_exit
from akod.config import Settings

EXIT_CHANGES = 10


def plan(*, config_path: Path, as_json: bool) -> int:
    try:
        settings = load_or_exit(config_path)
        password = read_password_or_exit(settings)
    except CliExit as exc:
        return exc.code
    try:
        result = asyncio.run(_plan(settings, password))
    except Exception as exc:  # noqa: BLE001
        print(f"akod: plan failed: {exc}", file=sys.stderr)
        return 3
    if as_json:
        print(json.dumps(result.as_json(), indent=2, sort_keys=True))
    else:
        _print(result)
    return EXIT_CHANGES if result.changes else 0


async def _plan(settings: Settings, password: str):  # type: ignore[no-untyped-def]
    from akod.kube import open_api_client
    from akod.sync.offline import make_plan

    kube = await open_api_client(kubeconfig=str(settings.cluster.kubeconfig or ""), context=settings.cluster.context)
    try:
        async with avi_client(settings, password=password) as client:
            return await make_plan(settings=settings, client=client, kube_api=kube)
    finally:
        await kube.close()


def _print(result) -> None:  # type: ignore[no-untyped-def]
    from akod.model.routes import describe_route

    print(f"VRF {result.context.vrf} (from {result.context.vrf_source})")
    for verb, routes in (("create", result.routes.add), ("update", result.routes.update),
                         ("delete", result.routes.delete)):
        for route in routes:
            print(f"  {verb} static route {describe_route(route)}")
    for change in result.objects:
        print(f"  {change.action} {change.obj_type} {change.name} (for {change.owner})")
    if result.label_se_group:
        print("  label the SE group with clustername")
    for p in result.problems:
        print(f"  error: {p.describe()}")
    print(f"{result.changes} change(s) pending" if result.changes else "nothing to do")
