"""Layer 6: the command line of CONTRACT.md (`akod run|check|plan|status|state|cleanup|emulator|demo`)."""
