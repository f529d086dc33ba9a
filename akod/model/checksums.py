"""Checksums of desired Avi objects: the idempotency key of every write.

An object whose desired checksum equals the one last applied causes no call. The value is also
stored on the controller (`cloud_config_cksum` or the type's equivalent) so that the applied state
can be rebuilt from the controller alone. Any stable hash works; this one is SHA-256 over canonical
JSON, truncated to 16 hex digits (64 bits: collisions are not a practical concern here).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def checksum(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:16]
