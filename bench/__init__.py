"""Benchmark scripts (run them as ``python bench/<name>.py`` from the repo root) and their shared helpers."""
