"""Layer 3: the Avi controller edge: one paced, retrying, typed-error REST client."""
