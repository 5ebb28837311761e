"""byol benchmarks (see README.md here)."""
