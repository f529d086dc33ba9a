"""The dev environment: everything the e2e tests, the benchmarks and ``akod demo`` run akod in.

One copy of the harness, so that the three exercise the daemon the same way:

- ``apiserver``: a real kube-apiserver + etcd on loopback (built from Debian packages, cached);
- ``seed``: the seed scenario's Nodes, Services and Ingresses, and helpers that create them;
- ``config``: the daemon's TOML config for that scenario; ``certs``: self-signed TLS Secrets;
- ``processes``: ``akod run`` and ``akod emulator`` as real processes; ``akod_cli``;
- ``controller``: a REST client for the emulator (objects, request log, faults, routing query);
- ``polling`` (``eventually``), ``ports`` (``free_port``), ``errors``, ``httpjson``: the small parts.

The daemon's layers never import this package (an import-linter contract); ``akod.cli`` may.
"""
