"""Benchmarks, run side by side against a baseline in one run (``python -m bench.run``)."""
