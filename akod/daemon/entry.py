"""`akod run`: from a config path to a running daemon on uvloop, with the exit codes of CONTRACT.md."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import uvloop

from akod.config import ConfigError, load_settings, read_controller_password
from akod.daemon.faults import Faults
from akod.daemon.logsetup import setup_logging
from akod.daemon.service import EXIT_CONFIG, EXIT_FATAL, Daemon

log = logging.getLogger("akod.daemon")


def run_daemon(*, config_path: Path) -> int:
    try:
        settings = load_settings(config_path)
        password = read_controller_password(settings, environ=dict(os.environ))
        faults = Faults.from_environ(os.environ)
    except (ConfigError, ValueError) as exc:
        print(f"akod: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(level=settings.log.level, fmt=settings.log.format)
    log.info("akod starting for cluster %s, controller %s", settings.cluster.name, settings.controller.base_url)
    try:
        if faults != Faults():
            log.warning("test faults injected: %s", faults)
        return uvloop.run(Daemon(settings=settings, config_path=config_path, password=password, faults=faults).run())
    except KeyboardInterrupt:
        return 0
    except Exception:
        log.exception("fatal error")
        return EXIT_FATAL
