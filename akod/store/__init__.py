"""Layer 3: the SQLite edge: schema, migrations and the repository the other layers use."""

from akod.store.records import (
    DONE,
    FAILED,
    INTENT,
    SUPERSEDED,
    Applied,
    Cursor,
    Desired,
    JournalEntry,
    Observed,
    StoredProblem,
)
from akod.store.repository import Store, now_iso

__all__ = [
    "DONE", "FAILED", "INTENT", "SUPERSEDED", "Applied", "Cursor", "Desired", "JournalEntry",
    "Observed", "Store", "StoredProblem", "now_iso",
]
