"""simclr benchmarks (see README.md here)."""
