"""Benchmarks: scripts that print one JSON line of figures (see docs/performance.md)."""
