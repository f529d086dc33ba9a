"""Where the tests find the project's read-only reference data (`shared/`, beside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AKOD_SHARED", REPO.parent / "shared"))
