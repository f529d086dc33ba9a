"""Layer 5: the local HTTP status server (/healthz, /readyz, /status, /objects, /metrics)."""

from akod.statusd.server import StatusServer, make_app

__all__ = ["StatusServer", "make_app"]
