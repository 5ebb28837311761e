"""speed benchmarks (see README.md here)."""
