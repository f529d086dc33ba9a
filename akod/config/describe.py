"""The effective settings as plain JSON data, for `akod check` and the status endpoint.

Shows what the daemon actually runs with: defaults filled in, relative paths resolved, and the
derived values people otherwise work out by hand (the controller base URL, the number of L7
shards). It is built from `Settings`, which never holds the password, so it is secret-free by
construction.
"""

from __future__ import annotations

from typing import Any

from akod.config.settings import Settings


def describe(settings: Settings) -> dict[str, Any]:
    """A JSON-serialisable dict of every setting plus derived values; never a secret."""
    data: dict[str, Any] = settings.model_dump(mode="json")
    data["controller"]["base_url"] = settings.controller.base_url
    data["l7"]["shard_count"] = settings.l7.shard_count
    return data
