"""Layer 3: the Kubernetes edge: list+watch with stored cursors, status patches, Events."""
