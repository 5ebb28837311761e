"""carry-over benchmarks: every recipe on NW-UCLA variants that look like a user's data (see README.md here)."""
