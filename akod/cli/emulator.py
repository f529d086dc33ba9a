"""`akod emulator`: run the Avi controller emulator in the foreground (tests, demo, benchmarks)."""

from __future__ import annotations

import argparse
import os
import sys


def emulator(args: argparse.Namespace) -> int:
    from akod.emulator.cli import serve

    password = "admin"
    if args.password_file is not None:
        try:
            password = args.password_file.read_text().rstrip("\n")
        except OSError as exc:
            print(f"akod: --password-file: {exc}", file=sys.stderr)
            return 2
    elif os.environ.get("AKOD_EMULATOR_PASSWORD"):
        password = os.environ["AKOD_EMULATOR_PASSWORD"]
    return serve(host=args.host, port=args.port, fixtures=args.fixtures, username=args.username, password=password,
                 tls=args.tls, strict=args.strict, faults=args.faults, version=args.emu_version)
