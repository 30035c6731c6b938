"""Benchmarks: toy multi-objective problems and side-by-side runs against peers.

Not installed with the package: the scripts run from a checkout of the repository, from
its root (``python -m benchmarks.compare ...``), and write to its ``results/`` folder.
"""
