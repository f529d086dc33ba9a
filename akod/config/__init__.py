"""Layer 1: typed settings read from one TOML file, validated with messages that name the key."""
