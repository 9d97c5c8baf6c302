"""Correlation: alerts into incidents, by rules, topology and learned links."""
