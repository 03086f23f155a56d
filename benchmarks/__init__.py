"""Benchmarks: each prints figures and the ratios that matter, measured in the same run."""
