"""Benchmarks: run as modules (`python -m tests.bench.bench_webhook`); they print figures."""
