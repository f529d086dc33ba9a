"""`akod state`: read the state database (read-only; safe while the daemon runs)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from akod.cli.common import CliExit, load_or_exit, table


def state(*, config_path: Path, what: str, as_json: bool) -> int:
    try:
        settings = load_or_exit(config_path)
    except CliExit as exc:
        return exc.code
    try:
        rows = asyncio.run(_read(Path(settings.state.path), what))
    except FileNotFoundError as exc:
        print(f"akod: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 0
    if not rows:
        print(f"no {what}")
        return 0
    header = list(rows[0].keys())
    print(table([[_short(r[h]) for h in header] for r in rows], header=header))
    return 0


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


async def _read(path: Path, what: str) -> list[dict[str, Any]]:
    from akod.store import Store

    store = await Store.open(path=path, read_only=True)
    try:
        if what == "cursors":
            return [dataclasses.asdict(c) for c in await store.cursors()]
        if what == "journal":
            return [dataclasses.asdict(j) for j in await store.journal(limit=100)]
        if what == "errors":
            return [dataclasses.asdict(p) for p in await store.problems()]
        applied = {(a.obj_type, a.tenant, a.name): a for a in await store.all_applied()}
        out = []
        for d in await store.desired():
            a = applied.get((d.obj_type, d.tenant, d.name))
            out.append({
                "type": d.obj_type, "tenant": d.tenant, "name": d.name, "owner": d.owner_key,
                "uuid": a.uuid if a else "", "desired": d.checksum, "applied": a.checksum if a else "",
                "state": "in sync" if a and a.checksum == d.checksum else "pending",
            })
        return out
    finally:
        await store.close()
