"""The benchmarks: per-paper tables, validation and diagnostics, speed and product measurements (README.md)."""
