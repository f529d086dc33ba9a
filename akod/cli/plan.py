"""`akod plan`: what akod would change on the controller, read from the cluster and the controller.

Exit 0 when there is nothing to do, 10 when changes are pending, another non-zero code on error.
Nothing is written anywhere (not even the state database).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from akod.cli.common import CliExit, avi_client, load_or_exit, read_password_or_exit
from akod.config import Settings

if TYPE_CHECKING:
    from akod.sync.planning import Plan

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


async def _plan(settings: Settings, password: str) -> Plan:
    from akod.kube import open_api_client
    from akod.store import Store
    from akod.sync.planning import make_plan

    from sqlalchemy.exc import OperationalError

    stored, recorded, effects = None, set(), []
    if Path(settings.state.path).exists():  # which objects a key with broken input keeps (read-only)
        store = await Store.open(path=Path(settings.state.path), read_only=True)
        try:
            stored = await store.all_applied()
            recorded = await store.recorded_names(obj_type="vsvip")
            try:  # the CRs' last accepted effects (a database from before migration 0004 has none)
                effects = await store.cr_effects()
            except OperationalError:
                effects = []
        finally:
            await store.close()
    kube = await open_api_client(kubeconfig=str(settings.cluster.kubeconfig or ""), context=settings.cluster.context)
    try:
        async with avi_client(settings, password=password) as client:
            return await make_plan(settings=settings, client=client, kube_api=kube, stored=stored,
                                   recorded_vsvips=recorded, cr_effects=effects)
    finally:
        await kube.close()


def _print(result: Plan) -> None:
    print(f"VRF {result.context.vrf} (from {result.context.vrf_source})")
    for change in result.changes:
        print(f"  {change.action} {change.obj_type} {change.name} (for {change.owner})")
    for name, why in sorted(result.missing.items()):
        print(f"  warning: {name}: {why}; akod does not watch them")
    for p in result.problems:
        print(f"  error: {p.describe()}")
    print(f"{len(result.changes)} change(s) pending" if result.changes else "nothing to do")
