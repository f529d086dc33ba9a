"""`akod emulator`: run the emulator in the foreground until SIGTERM or SIGINT.

The `akod` command line parses the options and resolves the password (`--password-file`, env
`AKOD_EMULATOR_PASSWORD`); this module does the rest. Its first line on stdout is the base URL,
flushed at once, because scripts and tests start the process and read that line to learn the
port (`--port 0` picks a free one). With `--tls` the self-signed certificate's path goes to
stderr so clients can trust it as their CA. Exit status 0 on a clean stop, 2 when the fixtures or
the faults given cannot be used (the message says which and why).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from akod.emulator.errors import ApiError
from akod.emulator.faults import parse_faults
from akod.emulator.fixtures import FixtureError
from akod.emulator.server import EmulatorServer

EXIT_OK = 0
EXIT_USAGE = 2


class UsageError(ValueError):
    """A command-line value that cannot be used; the message is shown to the user as is."""


def parse_faults_option(spec: str | None) -> dict[str, Any] | None:
    """`--faults '{"down": true}'` or `--faults @faults.json` -> the faults body (validated)."""
    if spec is None or not spec.strip():
        return None
    source = "--faults"
    text = spec
    if spec.startswith("@"):
        path = Path(spec[1:])
        source = f"--faults file {path}"
        try:
            text = path.read_text()
        except OSError as exc:
            raise UsageError(f"{source}: cannot read it ({exc.strerror or exc})") from exc
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: not valid JSON ({exc})") from exc
    try:
        parse_faults(body)
    except ApiError as exc:
        raise UsageError(f"{source}: {exc.message.removeprefix('faults: ')}") from exc
    return body  # type: ignore[no-any-return]


async def _run(server: EmulatorServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with server:
            print(server.url, flush=True)
            if server.ca_file is not None:
                print(f"emulator TLS certificate (use it as CA): {server.ca_file}",
                      file=sys.stderr, flush=True)
            await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def serve(
    *,
    host: str,
    port: int,
    fixtures: str,
    username: str,
    password: str,
    tls: bool,
    strict: bool,
    faults: str | None,
    version: str,
) -> int:
    """Run until SIGTERM/SIGINT; the base URL is the first line on stdout."""
    try:
        server = EmulatorServer(
            host=host, port=port, fixtures=fixtures, username=username, password=password,
            strict=strict, tls=tls, version=version, faults=parse_faults_option(faults),
        )
    except (UsageError, FixtureError) as exc:
        print(f"akod emulator: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        asyncio.run(_run(server))
    except OSError as exc:
        print(f"akod emulator: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
