"""Layer 5: the local HTTP status server (/healthz, /readyz, /status, /objects, /metrics)."""
