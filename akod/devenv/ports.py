"""A free TCP port on loopback, for every server the dev environment starts.

The kube-apiserver, etcd, the daemon's status endpoint and the emulator each need a port nobody
else uses, so that several test runs, a benchmark and a demo can share one machine. The port is
released before the caller's server binds it; callers that can lose that race (etcd and the
apiserver) retry with fresh ports.
"""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
