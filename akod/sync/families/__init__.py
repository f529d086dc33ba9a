"""The object families: one module each, registered in `akod.sync.registry.FAMILIES`."""
