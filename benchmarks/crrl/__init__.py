"""crrl benchmarks (see README.md here)."""
