"""ms2l benchmarks (see README.md here)."""
