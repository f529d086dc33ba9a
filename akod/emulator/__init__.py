"""An Avi controller emulator (aiohttp) for tests, the demo and the benchmarks.

It stands beside the layers: the daemon never imports it, and it imports none of them.

Entry points: `akod.emulator.server.EmulatorServer` (an async context manager with `.url` and
`.state`) and `akod.emulator.cli.serve` (the `akod emulator` command). Its fidelity to a real
controller is pinned by `tests/emulator/test_recordings_replay.py`, which replays recorded
controller traffic against it.

How a request flows: `server` (front door: request log, injected `faults`; API guard: `auth`,
`context`) -> `handlers` / `system` / `testapi` -> `crud` (with `validation` against `schema`,
refs via `refs`, per-type server behaviour in `typehooks`, checks across entries in
`constraints`, VIP addresses in `ipam`, PATCH in `patching`) -> `store`; answers are spelled by
`render`, collections selected by `query`. `dataplane` answers `/_emulator/route`: which pool
the controller's data plane would send a request to, evaluated from the stored objects. The
objects a fresh emulator holds come from `fixtures` (`fixtures/seed.json`), the schema from
`fixtures/schema.json` (compiled by `specgen` from the controller's Swagger files: the core
types' in `shared/avi-api-spec/`, the CRD-referenced types' in `specs/`, not shipped).
"""
