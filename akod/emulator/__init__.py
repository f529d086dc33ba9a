"""An Avi controller emulator (aiohttp) for tests, the demo and the benchmarks.

It stands beside the layers: the daemon never imports it, and it imports none of them.
"""
