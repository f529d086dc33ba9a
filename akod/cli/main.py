"""The `akod` command line (CONTRACT.md): parsing, then one small module per sub-command.

Sub-command modules are imported only when used, so `akod status` starts fast and never loads
the daemon, and `akod emulator` never loads the layers it stands beside.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from akod import __version__

DEFAULT_CONFIG = "/etc/akod/akod.toml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="akod", description="The Avi Kubernetes Operator as a systemd daemon.")
    p.add_argument("--version", action="version", version=f"akod {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon in the foreground (what systemd runs)")
    run.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG))

    check = sub.add_parser("check", help="validate the config; without --offline also reach the cluster and controller")
    check.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG))
    check.add_argument("--offline", action="store_true", help="only validate the file")

    plan = sub.add_parser("plan", help="print what akod would change on the controller; changes nothing")
    plan.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG))
    plan.add_argument("--json", action="store_true")

    status = sub.add_parser("status", help="ask a running daemon what it is doing")
    where = status.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path)
    where.add_argument("--url", help="status endpoint, e.g. http://127.0.0.1:8181 or unix:/run/akod/status.sock")
    status.add_argument("--json", action="store_true")

    state = sub.add_parser("state", help="read the state database (read-only; safe while the daemon runs)")
    state.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG))
    state.add_argument("what", nargs="?", choices=["objects", "journal", "cursors", "errors"], default="objects")
    state.add_argument("--json", action="store_true")

    cleanup = sub.add_parser("cleanup", help="delete every Avi object and static route this cluster's akod made")
    cleanup.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG))
    cleanup.add_argument("--yes", action="store_true", help="really delete (without it: show what would go)")

    emu = sub.add_parser("emulator", help="run the Avi controller emulator in the foreground")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=9443)
    emu.add_argument("--fixtures", default="seed", help="'seed' or a path to a fixtures JSON file")
    emu.add_argument("--username", default="admin")
    emu.add_argument("--password-file", type=Path)
    emu.add_argument("--tls", action="store_true")
    emu.add_argument("--strict", action="store_true", help="reject unknown fields with 400")
    emu.add_argument("--faults", help="faults as JSON, or @FILE")
    emu.add_argument("--version", default="20.1.2", dest="emu_version", help="the controller version to emulate")

    sub.add_parser("demo", help="the whole thing on this machine, with a readable summary")

    cfg = sub.add_parser("config", help="configuration helpers")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    helm = cfg_sub.add_parser("import-helm", help="print the akod TOML for an AKO Helm values.yaml")
    helm.add_argument("values", type=Path)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command
    if command == "run":
        from akod.daemon.entry import run_daemon

        return run_daemon(config_path=args.config)
    if command == "check":
        from akod.cli.check import check

        return check(config_path=args.config, offline=args.offline)
    if command == "plan":
        from akod.cli.plan import plan

        return plan(config_path=args.config, as_json=args.json)
    if command == "status":
        from akod.cli.status import status

        return status(config_path=args.config, url=args.url, as_json=args.json)
    if command == "state":
        from akod.cli.state import state

        return state(config_path=args.config, what=args.what, as_json=args.json)
    if command == "cleanup":
        from akod.cli.cleanup import cleanup

        return cleanup(config_path=args.config, yes=args.yes)
    if command == "emulator":
        from akod.cli.emulator import emulator

        return emulator(args)
    if command == "demo":
        from akod.cli.demo import demo

        return demo()
    if command == "config":
        from akod.cli.configcmd import import_helm

        return import_helm(values_path=args.values)
    return 2


if __name__ == "__main__":
    sys.exit(main())
