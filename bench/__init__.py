"""Benchmarks (python -m bench.<name>); not imported by the product."""
