"""Layer 3: the SQLite edge: schema, migrations and the repository the other layers use."""
