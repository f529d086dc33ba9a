"""Layer 2: pure translation from observed Kubernetes objects to desired Avi objects (no I/O)."""
