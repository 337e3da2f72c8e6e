"""Benchmarks of c4router: `bench/run` (see bench/README.md). Not tests: they print figures."""
