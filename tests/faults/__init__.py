"""Reliability under faults: real processes stopped and killed (pytest -m faults)."""
