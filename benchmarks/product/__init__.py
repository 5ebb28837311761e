"""product benchmarks (see README.md here)."""
