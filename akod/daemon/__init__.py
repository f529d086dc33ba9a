"""Layer 5: process wiring: uvloop, signals, config reload, sd_notify, the supervised tasks."""

from akod.daemon.service import EXIT_CONFIG, EXIT_FATAL, EXIT_OK, Daemon

__all__ = ["EXIT_CONFIG", "EXIT_FATAL", "EXIT_OK", "Daemon"]
