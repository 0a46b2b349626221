"""Retrieval and write benchmarks for skillstore, with the systems users would pick instead.

Run ``python -m benchmarks --help``; ``make bench`` is the quick run and
``make bench-full`` the full one (10^6 skills).
"""
