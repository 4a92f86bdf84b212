"""Benchmarks: commands that print speed and utility figures (they are not tests)."""
