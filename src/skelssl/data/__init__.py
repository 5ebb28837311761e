"""Skeleton data: readers for real formats, the synthetic generator, preprocessing,
the on-disk cache, train/test splits, label fractions and multi-view grouping."""
