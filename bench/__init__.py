"""Benchmarks of akod (not tests): run them as modules, e.g. `python -m bench.l4`."""
