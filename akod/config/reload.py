"""Which settings a SIGHUP may change in a running daemon, and which need a restart.

On SIGHUP the daemon loads the file again and compares. Pacing, logging, filters and the L4/L7
knobs are applied live: the next reconcile simply uses them. The rest decides identities the
daemon already holds open or built objects on (the cluster name prefixes every Avi object, the
controller session, the VIP networks and VRF behind existing virtual services, the pool member
kind of `service_type`, the state database, the status socket), so a change there is reported
and waits for a restart rather than being half-applied.
"""

from __future__ import annotations

from akod.config.settings import Settings

# Dotted keys, or "section.*" for a whole section, that a running daemon applies live.
LIVE_KEYS: frozenset[str] = frozenset(
    {
        "log.*",
        "api.rate",
        "api.burst",
        "api.workers",
        "api.timeout_s",
        "namespaces.*",
        "l4.*",
        "l7.*",
        "routes.*",
        "sync.*",
    }
)
# Exceptions inside a live section: ClusterIP vs NodePort changes what every pool member is.
# `routes.cni` chooses which resources are watched, and watches start with the daemon.
RESTART_KEYS: frozenset[str] = frozenset({"l7.service_type", "routes.cni"})


def changed_keys(old: Settings, new: Settings) -> list[str]:
    """The dotted keys (`section.key`) whose values differ, in file order."""
    changed = []
    for section in Settings.model_fields:
        before, after = getattr(old, section), getattr(new, section)
        if before == after:
            continue
        for key in type(before).model_fields:
            if getattr(before, key) != getattr(after, key):
                changed.append(f"{section}.{key}")
    return changed


def is_live(key: str) -> bool:
    """Whether a dotted key (`api.rate`) can change without restarting the daemon."""
    if key in RESTART_KEYS:
        return False
    section = key.partition(".")[0]
    return key in LIVE_KEYS or f"{section}.*" in LIVE_KEYS


def restart_required(old: Settings, new: Settings) -> list[str]:
    """The changed dotted keys that a reload cannot apply; empty means the reload is complete."""
    return [key for key in changed_keys(old, new) if not is_live(key)]
