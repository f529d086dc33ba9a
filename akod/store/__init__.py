"""Layer 3: the SQLite edge: schema, migrations and the repository the other layers use."""

from akod.store.codec import now_iso
from akod.store.creffects import CrEffect
from akod.store.records import (
    DONE,
    FAILED,
    INTENT,
    SUPERSEDED,
    UNKNOWN,
    Applied,
    Cursor,
    Desired,
    JournalEntry,
    Observed,
    StoredProblem,
)
from akod.store.repository import Store, StoreReadOnly
from akod.store.writer import StoreWriterDead

__all__ = [
    "CrEffect", "DONE", "FAILED", "INTENT", "SUPERSEDED", "UNKNOWN", "Applied", "Cursor", "Desired", "JournalEntry",
    "Observed", "Store", "StoreReadOnly", "StoreWriterDead", "StoredProblem", "now_iso",
]
