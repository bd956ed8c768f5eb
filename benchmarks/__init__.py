"""Benchmarks of emimpute against scikit-learn; run ``python -m benchmarks``."""
