"""Layer 4: the control loop: dirty keys, diff desired against applied, the journal, the workers."""
