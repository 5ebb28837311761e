"""Skeleton data: readers for real formats, the synthetic generator, preprocessing,
the on-disk cache, protocols, label fractions and multi-view grouping."""
