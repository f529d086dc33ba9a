"""The Alembic environment of the state database (also reachable as the top-level `migrations/`)."""
