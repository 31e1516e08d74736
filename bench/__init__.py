"""`make bench`: performance figures for letsbet, each beside a baseline measured in the same run.

Run with `python -m bench` (or `make bench`). It starts embedded PostgreSQL/Redis/NATS in a temp
dir, runs every benchmark, prints results as they come and rewrites docs/benchmarks.md.
"""
