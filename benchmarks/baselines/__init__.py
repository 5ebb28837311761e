"""baselines benchmarks (see README.md here)."""
