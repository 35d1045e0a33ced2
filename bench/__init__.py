"""Benchmarks. Each module writes comparable results to bench/results/<name>.jsonl."""
