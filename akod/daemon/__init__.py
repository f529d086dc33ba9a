"""Layer 5: process wiring: uvloop, signals, config reload, sd_notify, the supervised tasks."""
