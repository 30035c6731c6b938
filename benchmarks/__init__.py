"""Benchmarks: toy multi-objective problems and side-by-side runs against peers."""
